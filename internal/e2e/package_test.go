package e2e

import (
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestDebPackageInstalls builds the .deb with `make deb`, installs it into
// this machine with dpkg -i, checks what it installed and that the shipped
// sample config passes check-config (also as the service user), and purges
// it again. It changes the system, so it runs only when make test asks
// for it (INFLUXGATE_PACKAGE_TEST=1); CI machines are disposable.
func TestDebPackageInstalls(t *testing.T) {
	if os.Getenv("INFLUXGATE_PACKAGE_TEST") == "" {
		t.Skip("installs a package into this machine; `make test` runs it (INFLUXGATE_PACKAGE_TEST=1)")
	}
	if os.Geteuid() != 0 {
		t.Fatal("INFLUXGATE_PACKAGE_TEST is set but the test is not root: dpkg -i needs root")
	}
	for _, tool := range []string{"dpkg", "dpkg-deb", "make"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("the package test needs %s: %v", tool, err)
		}
	}
	if exec.Command("dpkg", "-s", "influxgate").Run() == nil {
		t.Fatal("a package named influxgate is already installed here; the test will not replace it (dpkg --purge influxgate first)")
	}
	_, userErr := user.Lookup("influxgate")
	hadUser := userErr == nil
	_, dirErr := os.Stat("/var/lib/influxgate")
	hadDir := dirErr == nil

	root := repoRoot(t)
	const version = "0.0.1~e2e"
	run(t, root, "make", "deb", "VERSION="+version)
	debs, _ := filepath.Glob(filepath.Join(root, "dist", "influxgate_"+version+"_*.deb"))
	if len(debs) != 1 {
		t.Fatalf("make deb made %v, want one influxgate_%s_<arch>.deb in dist/", debs, version)
	}
	deb := debs[0]
	listing := run(t, root, "dpkg-deb", "--contents", deb)
	for _, f := range []string{"./usr/bin/influxgate", "./lib/systemd/system/influxgate.service",
		"./etc/influxgate/influxgate.toml", "./usr/share/doc/influxgate/operations.md"} {
		if !strings.Contains(listing, f+"\n") && !strings.Contains(listing, f+" ") {
			t.Errorf("package lacks %s:\n%s", f, listing)
		}
	}

	t.Cleanup(func() {
		if out, err := exec.Command("dpkg", "--purge", "influxgate").CombinedOutput(); err != nil {
			t.Errorf("dpkg --purge influxgate: %v\n%s", err, out)
		}
		// The package keeps the user and the data directory on purge (they
		// may hold undelivered writes); remove what this test created.
		if !hadDir {
			os.RemoveAll("/var/lib/influxgate")
		}
		if !hadUser {
			if out, err := exec.Command("userdel", "influxgate").CombinedOutput(); err != nil {
				t.Errorf("userdel influxgate: %v\n%s", err, out)
			}
		}
	})
	run(t, root, "dpkg", "-i", deb)

	if out := run(t, root, "/usr/bin/influxgate", "version"); !strings.HasPrefix(out, "influxgate "+version+" ") {
		t.Errorf("influxgate version: %q, want it to name %s", out, version)
	}
	if out := run(t, root, "/usr/bin/influxgate", "check-config", "-config", "/etc/influxgate/influxgate.toml"); !strings.Contains(out, "configuration OK") {
		t.Errorf("check-config of the shipped config: %q", out)
	}
	// The service user can read its config (0640 root:influxgate).
	run(t, root, "setpriv", "--reuid=influxgate", "--regid=influxgate", "--clear-groups",
		"/usr/bin/influxgate", "check-config", "-config", "/etc/influxgate/influxgate.toml")

	u, err := user.Lookup("influxgate")
	if err != nil {
		t.Fatalf("postinst did not create the influxgate user: %v", err)
	}
	checkOwner(t, "/var/lib/influxgate", u, 0o700|os.ModeDir, false)
	checkOwner(t, "/etc/influxgate/influxgate.toml", u, 0o640, true)
	if conf := run(t, root, "dpkg-query", "-W", "-f=${Conffiles}", "influxgate"); !strings.Contains(conf, "/etc/influxgate/influxgate.toml") {
		t.Errorf("the sample config is not a conffile (upgrades would overwrite edits): %q", conf)
	}
	if _, err := exec.LookPath("systemd-analyze"); err == nil {
		run(t, root, "systemd-analyze", "verify", "/lib/systemd/system/influxgate.service")
	} else {
		t.Log("systemd-analyze not found: the unit's syntax is not verified")
	}
}

// checkOwner checks mode and ownership: the service user owns path, or
// (groupOnly) root owns it with the service user's group.
func checkOwner(t *testing.T, path string, u *user.User, mode os.FileMode, groupOnly bool) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Error(err)
		return
	}
	st := fi.Sys().(*syscall.Stat_t)
	wantUID, wantGID := u.Uid, u.Gid
	if groupOnly {
		wantUID = "0"
	}
	uid, gid := strconv.FormatUint(uint64(st.Uid), 10), strconv.FormatUint(uint64(st.Gid), 10)
	if fi.Mode() != mode || uid != wantUID || gid != wantGID {
		t.Errorf("%s: mode %v uid %s gid %s, want %v %s %s", path, fi.Mode(), uid, gid, mode, wantUID, wantGID)
	}
}

// run runs a command in dir and returns its output, failing the test with
// the output when it fails.
func run(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}
