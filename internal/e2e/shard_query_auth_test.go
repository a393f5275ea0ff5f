package e2e

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/influxgate/influxgate/internal/config"
	"github.com/influxgate/influxgate/internal/testinflux"
)

// Credentials on a sharded listener follow the unsharded rules (G7): in
// pass-through mode every shard sees the client's own credentials only,
// never the outputs'; in gateway mode influxgate checks the client's
// rights and the shards get the outputs' credentials.
func TestShardedQueryCredentials(t *testing.T) {
	t.Parallel()
	var backends []*testinflux.Server
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.WriteTimeout = 5 * time.Second
	cfg.ShutdownTimeout = 10 * time.Second
	h := config.HTTPConfig{Name: "http", BindAddr: "127.0.0.1:0", ShardKey: "measurement"}
	for i := 1; i <= 2; i++ {
		s := testinflux.Start(t, testinflux.Options{Auth: true})
		s.CreateDatabase(t, "db")
		backends = append(backends, s)
		o := output(fmt.Sprintf("s%da", i), s.WriteURL())
		o.Username, o.Password = testinflux.AdminUser, testinflux.AdminPassword
		h.Shards = append(h.Shards, config.ShardConfig{Name: fmt.Sprintf("s%d", i), Outputs: []config.OutputConfig{o}})
	}
	cfg.HTTP = []config.HTTPConfig{h}
	cfg.ApplyDefaults()
	pass := startGate(t, &cfg)
	var body strings.Builder
	for i := 0; i < 20; i++ {
		fmt.Fprintf(&body, "m%d v=%d %d\n", i, i, ns(time.Duration(i)*time.Second))
	}
	pass.mustWrite(t, "db=db", body.String()) // with the outputs' credentials
	pass.waitCaughtUp(t, 30*time.Second)
	admin := []string{"Authorization", "Basic " + basic(testinflux.AdminUser, testinflux.AdminPassword)}

	for _, q := range []string{"SHOW MEASUREMENTS", "SELECT count(v) FROM /m/", "SELECT v FROM m1", "CREATE DATABASE evil"} {
		params := url.Values{"q": {q}, "db": {"db"}}
		r := pass.query(t, http.MethodPost, params)
		want := do(t, http.MethodPost, backends[0].URL()+"/query", params.Encode(), "Content-Type", "application/x-www-form-urlencoded")
		if r.Status != http.StatusUnauthorized || r.errText() != want.errText() {
			t.Errorf("pass-through, anonymous %s: %d %s; influxd itself: %d %s", q, r.Status, r.Body, want.Status, want.Body)
		}
	}
	r := pass.query(t, http.MethodPost, url.Values{"q": {"SELECT count(v) FROM /m/"}, "db": {"db"}}, admin...)
	if r.Status != http.StatusOK || strings.Count(r.Body, `"count"`) != 20 || !strings.Contains(r.Header.Get("X-Influxgate-Backend"), ",") {
		t.Errorf("pass-through, the admin's own credentials, across shards: %d %s", r.Status, clip(r.Body))
	}
	for _, s := range backends {
		if strings.Contains(users(t, s), "evil") || strings.Contains(string(s.Query(t, "", "SHOW DATABASES").Body), "evil") {
			t.Errorf("an anonymous client changed %s", s.URL())
		}
	}
	pass.stop()

	// Gateway mode: influxgate decides, by the client's rights.
	cfg.HTTP[0].BindAddr = "127.0.0.1:0"
	cfg.HTTP[0].Auth = config.AuthConfig{Mode: "gateway", Users: []config.UserAuth{
		{Username: "reader", Password: "r", Rights: config.RightRead},
		{Username: "boss", Password: "b", Rights: config.RightAdmin}}}
	gw := startGate(t, &cfg)
	reader := []string{"Authorization", "Basic " + basic("reader", "r")}
	if r := gw.query(t, http.MethodPost, url.Values{"q": {"SELECT count(v) FROM /m/"}, "db": {"db"}}, reader...); r.Status != http.StatusOK || strings.Count(r.Body, `"count"`) != 20 {
		t.Errorf("gateway, reader across shards: %d %s", r.Status, clip(r.Body))
	}
	if r := gw.query(t, http.MethodPost, url.Values{"q": {"CREATE DATABASE nope"}}, reader...); r.Status != http.StatusForbidden {
		t.Errorf("gateway, reader creating a database: %d %s", r.Status, r.Body)
	}
	if r := gw.query(t, http.MethodPost, url.Values{"q": {"SHOW MEASUREMENTS"}, "db": {"db"}}); r.Status != http.StatusUnauthorized {
		t.Errorf("gateway, anonymous: %d %s", r.Status, r.Body)
	}
	boss := []string{"Authorization", "Basic " + basic("boss", "b")}
	if r := gw.query(t, http.MethodPost, url.Values{"q": {"CREATE DATABASE fine"}}, boss...); r.Status != http.StatusOK {
		t.Errorf("gateway, admin creating a database: %d %s", r.Status, r.Body)
	}
	gw.waitCaughtUp(t, 30*time.Second)
	for _, s := range backends {
		if !strings.Contains(string(s.Query(t, "", "SHOW DATABASES").Body), `"fine"`) {
			t.Errorf("%s lacks the database the gateway's admin created", s.URL())
		}
	}
}
