package testinflux

import (
	"context"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

var versions = []Version{V167, V1810}

// eachVersion runs f as a parallel subtest per influxd version.
func eachVersion(t *testing.T, f func(t *testing.T, v Version)) {
	t.Helper()
	for _, v := range versions {
		t.Run(string(v), func(t *testing.T) {
			t.Parallel()
			f(t, v)
		})
	}
}

// status sends a request without the server's credentials and returns the
// status code.
func status(t *testing.T, method, url, body string) int {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestStartAnswersPing(t *testing.T) {
	t.Parallel()
	eachVersion(t, func(t *testing.T, v Version) {
		s := Start(t, Options{Version: v})
		if !s.Running() || s.PID() == 0 {
			t.Fatalf("Running() = %v, PID() = %d after Start", s.Running(), s.PID())
		}
		if s.Version() != v {
			t.Errorf("Version() = %q, want %q", s.Version(), v)
		}
		if got := status(t, http.MethodGet, s.URL()+"/ping", ""); got != http.StatusNoContent {
			t.Errorf("GET /ping = %d, want 204", got)
		}
		if s.URL() != "http://"+s.Addr() || s.WriteURL() != s.URL()+"/write" {
			t.Errorf("URL() = %q, Addr() = %q, WriteURL() = %q", s.URL(), s.Addr(), s.WriteURL())
		}
		if s.UDPAddr() != "" {
			t.Errorf("UDPAddr() = %q without UDP", s.UDPAddr())
		}
		for _, sub := range []string{"meta", "data"} { // wal/ comes with the first shard
			if fi, err := os.Stat(s.DataDir() + "/" + sub); err != nil || !fi.IsDir() {
				t.Errorf("%s/%s: %v", s.DataDir(), sub, err)
			}
		}
	})
}

func TestStopRestartKeepsData(t *testing.T) {
	t.Parallel()
	eachVersion(t, func(t *testing.T, v Version) {
		s := Start(t, Options{Version: v})
		s.CreateDatabase(t, "db")
		s.Write(t, "db", "s", "m,k=a v=1i 1700000000\nm,k=b v=2i 1700000001\n")
		want := s.Points(t, "db")
		if len(want) != 2 {
			t.Fatalf("Points = %q, want 2 points", want)
		}
		addr := s.Addr()

		s.Stop(t)
		if s.Running() || s.PID() != 0 {
			t.Fatalf("Running() = %v, PID() = %d after Stop", s.Running(), s.PID())
		}
		s.Stop(t) // a second Stop is a no-op
		s.Restart(t)
		if s.Addr() != addr {
			t.Errorf("address changed over Restart: %s -> %s", addr, s.Addr())
		}
		if got := s.Points(t, "db"); !slices.Equal(got, want) {
			t.Fatalf("after Stop/Restart Points = %q, want %q", got, want)
		}

		// Points acknowledged just before a crash come back from the WAL.
		s.Write(t, "db", "s", "m,k=c v=3i 1700000002\n")
		want = append(want, "m,k=c v=3i 1700000002000000000")
		s.Kill(t)
		if s.Running() {
			t.Fatal("Running() after Kill")
		}
		s.Restart(t)
		if got := s.Points(t, "db"); !slices.Equal(got, want) {
			t.Fatalf("after Kill/Restart Points = %q, want %q", got, want)
		}

		// Restart of a running server restarts it.
		pid := s.PID()
		s.Restart(t)
		if s.PID() == pid || !s.Running() {
			t.Errorf("Restart of a running server: PID %d -> %d, Running() = %v", pid, s.PID(), s.Running())
		}
	})
}

func TestWipeEmptiesServer(t *testing.T) {
	t.Parallel()
	eachVersion(t, func(t *testing.T, v Version) {
		s := Start(t, Options{Version: v})
		s.CreateDatabase(t, "db")
		s.Write(t, "db", "", "m v=1 1\n")
		s.Wipe(t)
		if s.Running() {
			t.Fatal("Running() after Wipe")
		}
		s.Restart(t)
		if got := s.Points(t, "db"); got != nil {
			t.Errorf("Points after Wipe = %q, want none", got)
		}
		r := s.Query(t, "", "SHOW DATABASES")
		for _, se := range r.Results[0].Series {
			if len(se.Values) != 0 {
				t.Errorf("SHOW DATABASES after Wipe = %v, want none", se.Values)
			}
		}
	})
}

func TestParallelServersAreSeparate(t *testing.T) {
	t.Parallel()
	eachVersion(t, func(t *testing.T, v Version) {
		a := Start(t, Options{Version: v})
		b := Start(t, Options{Version: v})
		if a.Addr() == b.Addr() || a.DataDir() == b.DataDir() {
			t.Fatalf("servers share an address or directory: %s %s, %s %s", a.Addr(), b.Addr(), a.DataDir(), b.DataDir())
		}
		a.CreateDatabase(t, "db")
		b.CreateDatabase(t, "db")
		a.Write(t, "db", "", "m v=1 1\n")
		b.Write(t, "db", "", "m v=2 2\nm v=3 3\n")
		if n := a.Count(t, "db", "m"); n != 1 {
			t.Errorf("a has %d points, want 1", n)
		}
		if n := b.Count(t, "db", "m"); n != 2 {
			t.Errorf("b has %d points, want 2", n)
		}
		b.Stop(t)
		if !a.Running() {
			t.Error("stopping b stopped a")
		}
	})
}

func TestPauseResume(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{})
	s.Pause(t)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL()+"/ping", nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("a paused server answered /ping: %d", resp.StatusCode)
	}
	s.Resume(t)
	if got := status(t, http.MethodGet, s.URL()+"/ping", ""); got != http.StatusNoContent {
		t.Fatalf("GET /ping after Resume = %d", got)
	}

	// A paused server still stops gracefully: Stop wakes it after SIGTERM.
	s.Pause(t)
	s.Stop(t)
	log, err := os.ReadFile(s.LogPath())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(log), "Server shutdown completed") {
		t.Errorf("a paused server did not shut down gracefully; log:\n%s", log)
	}
}

// TestCleanupStopsEverything checks that a server started in a subtest is
// gone, with its directory and ports, once the subtest is over, even when
// the subtest failed with a panic-free Fatal or paused the server.
func TestCleanupStopsEverything(t *testing.T) {
	t.Parallel()
	var pid int
	var dir, addr string
	t.Run("inner", func(t *testing.T) {
		s := Start(t, Options{Version: V1810, UDP: &UDPOptions{}})
		pid, dir, addr = s.PID(), s.dir, s.Addr()
		s.Pause(t)
	})
	if alive(pid) {
		t.Errorf("influxd %d still alive after its test ended", pid)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("instance directory %s still there: %v", dir, err)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Errorf("HTTP port still taken after the test: %v", err)
	} else {
		l.Close()
	}
}

// alive reports whether pid is a live process (not gone, not a zombie).
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the parenthesized command name: "pid (comm) S ...".
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}
