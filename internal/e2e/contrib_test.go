package e2e

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// The Grafana dashboard and the Prometheus alert rules in contrib/ are
// checked against a live influxgate: every metric their expressions use
// must be on /metrics, with the labels they select on. Prometheus' own
// PromQL parser is not used: it would pull hundreds of modules into
// go.sum for one test, and the names and label matchers are what drifts.

// repoRoot is the module root, found from the test's directory.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test's directory")
		}
		dir = parent
	}
}

// dashboardExprs returns every PromQL expression of the dashboard: panel
// targets (rows included) and template-variable queries.
func dashboardExprs(t *testing.T, path string) []string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	type panel struct {
		ID         int    `json:"id"`
		Type       string `json:"type"`
		Title      string `json:"title"`
		Datasource *struct {
			UID string `json:"uid"`
		} `json:"datasource"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
		Panels []json.RawMessage `json:"panels"`
	}
	var dash struct {
		Title      string            `json:"title"`
		UID        string            `json:"uid"`
		Panels     []json.RawMessage `json:"panels"`
		Templating struct {
			List []struct {
				Name  string `json:"name"`
				Type  string `json:"type"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if dash.Title == "" || dash.UID == "" {
		t.Errorf("%s: no title or uid", path)
	}
	var exprs []string
	ids := map[int]string{}
	var walk func([]json.RawMessage)
	walk = func(ps []json.RawMessage) {
		for _, rp := range ps {
			var p panel
			if err := json.Unmarshal(rp, &p); err != nil {
				t.Fatalf("%s: panel: %v", path, err)
			}
			if other, dup := ids[p.ID]; dup {
				t.Errorf("%s: panels %q and %q share id %d", path, other, p.Title, p.ID)
			}
			ids[p.ID] = p.Title
			if p.Type != "row" {
				if len(p.Targets) == 0 {
					t.Errorf("%s: panel %q has no query", path, p.Title)
				}
				if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
					t.Errorf("%s: panel %q does not use the ${datasource} variable", path, p.Title)
				}
			}
			for _, tg := range p.Targets {
				if strings.TrimSpace(tg.Expr) == "" {
					t.Errorf("%s: panel %q has an empty query", path, p.Title)
				}
				exprs = append(exprs, tg.Expr)
			}
			walk(p.Panels)
		}
	}
	walk(dash.Panels)
	for _, v := range dash.Templating.List {
		if q, ok := v.Query.(map[string]any); ok {
			if s, ok := q["query"].(string); ok {
				exprs = append(exprs, s)
			}
		}
	}
	return exprs
}

// alertExprs returns the expressions of the alert rules file and checks
// that each rule is complete.
func alertExprs(t *testing.T, path string) []string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Expr        string            `yaml:"expr"`
				For         string            `yaml:"for"`
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	dec.KnownFields(true) // a misspelled key would make Prometheus refuse the file
	if err := dec.Decode(&file); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	durRE := regexp.MustCompile(`^([0-9]+(ms|s|m|h|d|w|y))+$`)
	var exprs []string
	seen := map[string]bool{}
	for _, g := range file.Groups {
		for _, r := range g.Rules {
			switch {
			case r.Alert == "" || r.Expr == "":
				t.Errorf("%s: rule without alert name or expr: %+v", path, r)
			case seen[r.Alert]:
				t.Errorf("%s: alert %s defined twice", path, r.Alert)
			case r.Labels["severity"] == "" || r.Annotations["summary"] == "":
				t.Errorf("%s: alert %s lacks a severity label or a summary", path, r.Alert)
			case r.For != "" && !durRE.MatchString(r.For):
				t.Errorf("%s: alert %s: for: %q is not a Prometheus duration", path, r.Alert, r.For)
			case strings.Count(r.Expr, "(") != strings.Count(r.Expr, ")"):
				t.Errorf("%s: alert %s: unbalanced parentheses in %q", path, r.Alert, r.Expr)
			}
			seen[r.Alert] = true
			exprs = append(exprs, r.Expr)
		}
	}
	return exprs
}

var (
	metricNameRE = regexp.MustCompile(`\b(?:influxgate|go|process)_[a-zA-Z0-9_]*[a-zA-Z0-9]`)
	selectorRE   = regexp.MustCompile(`\b((?:influxgate|go|process)_[a-zA-Z0-9_]*)\s*\{([^}]*)\}`)
	matcherRE    = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)`)
)

// exposition maps each sample name on /metrics to the label names seen.
func exposition(t *testing.T, body string) map[string]map[string]bool {
	t.Helper()
	out := map[string]map[string]bool{}
	for _, line := range strings.Split(body, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		name, rest, _ := strings.Cut(line, " ")
		labels := map[string]bool{}
		if n, ls, ok := strings.Cut(name, "{"); ok {
			name = n
			for _, m := range matcherRE.FindAllStringSubmatch(ls+" "+rest, -1) {
				labels[m[1]] = true
			}
		}
		if out[name] == nil {
			out[name] = map[string]bool{}
		}
		for l := range labels {
			out[name][l] = true
		}
	}
	return out
}

func TestDashboardAndAlertsUseExistingMetrics(t *testing.T) {
	root := repoRoot(t)
	dash := dashboardExprs(t, filepath.Join(root, "contrib/grafana/influxgate.json"))
	rules := alertExprs(t, filepath.Join(root, "contrib/prometheus/influxgate-alerts.yml"))

	// A live influxgate with every labelled series made to exist: a field
	// type conflict (rejected points), reads (query metrics), a backend
	// stopped while it still counts as live (reads fail over), then found
	// down, and a write to a database the remaining backend lacks (it goes
	// to that backend's dead-letter store, as no other replica can say).
	a, b := twoBackends(t, "db")
	g := startGate(t, newConfig(t, a, b))
	g.mustWrite(t, "db=db", "cpu v=1 1")
	g.waitCaughtUp(t, 10*time.Second)
	if r := g.write(t, "db=db", `cpu v="text" 2`); r.Status != http.StatusBadRequest {
		t.Fatalf("field type conflict: %d %s", r.Status, r.Body)
	}
	b.Stop(t)
	for range 4 {
		do(t, http.MethodGet, g.url+"/query?db=db&q=SELECT%20*%20FROM%20cpu", "")
	}
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; ; i++ {
		_, h := g.health(t)
		if h.Checks[1].State == "down" && h.Checks[0].DeadLetters > 0 && len(h.Checks[0].Rejected) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("want b down, a with a dead letter and a rejection: %+v", h.Checks)
		}
		g.mustWrite(t, "db=db", fmt.Sprintf("cpu v=2 %d", 3+i))
		g.write(t, "db=missing", "cpu v=1 1")
		time.Sleep(50 * time.Millisecond)
	}
	metrics := do(t, http.MethodGet, g.url+"/metrics", "")
	have := exposition(t, metrics.Body)

	for _, src := range []struct {
		name  string
		exprs []string
		min   int // distinct influxgate metrics expected at least: guards the extraction
	}{{"contrib/grafana/influxgate.json", dash, 25}, {"contrib/prometheus/influxgate-alerts.yml", rules, 10}} {
		names := map[string]bool{}
		for _, e := range src.exprs {
			for _, n := range metricNameRE.FindAllString(e, -1) {
				names[n] = true
			}
			for _, m := range selectorRE.FindAllStringSubmatch(e, -1) {
				for _, lm := range matcherRE.FindAllStringSubmatch(m[2], -1) {
					label := lm[1]
					if label == "instance" || label == "job" { // added by Prometheus at scrape
						continue
					}
					if have[m[1]] != nil && !have[m[1]][label] {
						t.Errorf("%s: %s selects on label %q, which /metrics does not have on it", src.name, m[1], label)
					}
				}
			}
		}
		n := 0
		for _, name := range slices.Sorted(maps.Keys(names)) {
			if strings.HasPrefix(name, "influxgate_") {
				n++
			}
			if have[name] == nil {
				t.Errorf("%s uses %s, which is not on /metrics", src.name, name)
			}
		}
		if n < src.min {
			t.Errorf("%s: found only %d influxgate metrics in its expressions, want at least %d", src.name, n, src.min)
		}
		t.Logf("%s: %d metrics checked (%d influxgate_*)", src.name, len(names), n)
	}
	if t.Failed() {
		t.Logf("/metrics had:\n%s", clip(fmt.Sprint(slices.Sorted(maps.Keys(have)))))
	}
}
