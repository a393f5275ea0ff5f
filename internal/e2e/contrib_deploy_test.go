package e2e

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/influxgate/influxgate/internal/config"
)

// The Kubernetes example cannot be applied here (no cluster); its config
// is loaded as influxgate loads it and the relations docs/deployment.md
// states are checked: grace period, readiness on /health, the port, a
// volume per pod at the data dir.
func TestKubernetesExample(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(filepath.Join(repoRoot(t), "contrib", "kubernetes", "influxgate.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	type probe struct {
		HTTPGet struct {
			Path string `yaml:"path"`
			Port string `yaml:"port"`
		} `yaml:"httpGet"`
	}
	type object struct {
		Kind string            `yaml:"kind"`
		Data map[string]string `yaml:"data"`
		Spec struct {
			Ports []struct {
				Port       int    `yaml:"port"`
				TargetPort string `yaml:"targetPort"`
			} `yaml:"ports"`
			Template struct {
				Spec struct {
					Grace      int `yaml:"terminationGracePeriodSeconds"`
					Containers []struct {
						Args  []string `yaml:"args"`
						Ports []struct {
							Name string `yaml:"name"`
							Port int    `yaml:"containerPort"`
						} `yaml:"ports"`
						Readiness    probe `yaml:"readinessProbe"`
						VolumeMounts []struct {
							Name string `yaml:"name"`
							Path string `yaml:"mountPath"`
						} `yaml:"volumeMounts"`
					} `yaml:"containers"`
				} `yaml:"spec"`
			} `yaml:"template"`
			Claims []struct {
				Metadata struct {
					Name string `yaml:"name"`
				} `yaml:"metadata"`
			} `yaml:"volumeClaimTemplates"`
		} `yaml:"spec"`
	}
	objs := map[string]object{}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	for {
		var o object
		if err := dec.Decode(&o); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("contrib/kubernetes/influxgate.yaml: %v", err)
		}
		if _, dup := objs[o.Kind]; dup && o.Kind != "Service" {
			t.Fatalf("two objects of kind %s", o.Kind)
		}
		objs[o.Kind] = o
	}
	cfg, err := config.LoadBytes("influxgate.toml", []byte(objs["ConfigMap"].Data["influxgate.toml"]))
	if err != nil {
		t.Fatalf("the ConfigMap's influxgate.toml: %v", err)
	}
	ss := objs["StatefulSet"].Spec
	pod := ss.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("want one container, have %d", len(pod.Containers))
	}
	c := pod.Containers[0]
	if need := cfg.ShutdownDelay + cfg.ShutdownTimeout; time.Duration(pod.Grace)*time.Second <= need {
		t.Errorf("terminationGracePeriodSeconds %d is not longer than shutdown-delay + shutdown-timeout (%v)", pod.Grace, need)
	}
	if c.Readiness.HTTPGet.Path != "/health" || c.Readiness.HTTPGet.Port != "http" {
		t.Errorf("readiness probe %+v, want /health on port http", c.Readiness.HTTPGet)
	}
	_, port, _ := net.SplitHostPort(cfg.HTTP[0].BindAddr)
	if len(c.Ports) != 1 || c.Ports[0].Name != "http" || strconv.Itoa(c.Ports[0].Port) != port {
		t.Errorf("container ports %+v, want http = %s (the listener's bind-addr)", c.Ports, port)
	}
	if objs["Service"].Spec.Ports[0].TargetPort != "http" {
		t.Errorf("service target port %q, want http", objs["Service"].Spec.Ports[0].TargetPort)
	}
	if len(ss.Claims) != 1 {
		t.Fatalf("want one volume claim template, have %d", len(ss.Claims))
	}
	mounted := false
	for _, m := range c.VolumeMounts {
		mounted = mounted || (m.Name == ss.Claims[0].Metadata.Name && m.Path == cfg.DataDir)
	}
	if !mounted {
		t.Errorf("the volume claim %q is not mounted at data-dir %s: %+v", ss.Claims[0].Metadata.Name, cfg.DataDir, c.VolumeMounts)
	}
	if !strings.Contains(strings.Join(c.Args, " "), "-config /etc/influxgate/influxgate.toml") {
		t.Errorf("container args %v", c.Args)
	}
}

// docs/deployment.md quotes the contrib files the tests run: every code
// block that follows a line naming a contrib/ file must be a verbatim
// part of that file.
func TestDeploymentDocQuotesContribFiles(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	doc, err := os.ReadFile(filepath.Join(root, "docs", "deployment.md"))
	if err != nil {
		t.Fatal(err)
	}
	block := regexp.MustCompile("(?m)^(.*)\n\n?```[a-z]*\n((?s:.*?))```")
	file := regexp.MustCompile(`\((\.\./contrib/[^)]+)\)`)
	quoted := 0
	for _, m := range block.FindAllStringSubmatch(string(doc), -1) {
		f := file.FindAllStringSubmatch(m[1], -1)
		if f == nil {
			continue
		}
		path := filepath.Join(root, "docs", f[len(f)-1][1])
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(src), m[2]) {
			t.Errorf("docs/deployment.md quotes %s, but the file does not contain:\n%s", f[len(f)-1][1], m[2])
		}
		quoted++
	}
	if quoted == 0 {
		t.Error("docs/deployment.md quotes no contrib file")
	}
}
