package ingest

import (
	"net/url"
	"strings"
	"testing"
)

// parseParams reads what url.ParseQuery and Values.Get read, for every
// query within Go's parameter cap.
func FuzzParseParams(f *testing.F) {
	for _, s := range []string{
		"db=x&rp=y&precision=s&consistency=any&u=a&p=b",
		"bucket=db%2Frp&org=o&orgID=i",
		"db=&db=x", "db=a;b&db=c", "d%62=x&db=y", "db=%zz&db=ok", "%zz=1&db=x", "db=a+b%20c", "&&db=x&",
		"db", "db&db=x", "precision=%", "u=%E2%82%AC&p=+",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if strings.Count(raw, "&") >= 10_000 {
			return
		}
		want, _ := url.ParseQuery(raw)
		got := parseParams(raw)
		for i, name := range paramNames {
			if got.get(i) != want.Get(name) {
				t.Fatalf("%q: %s = %q, url.ParseQuery says %q", raw, name, got.get(i), want.Get(name))
			}
		}
	})
}

func TestParseParamsBeyondGoCap(t *testing.T) {
	raw := strings.Repeat("x=1&", 20_000) + "db=d%20b&rp=r&db=other"
	if v, err := url.ParseQuery(raw); err == nil || v.Get("db") != "" {
		t.Fatalf("url.ParseQuery read %d parameters without error (%v): the cap this works around is gone", len(v), err)
	}
	if p := parseParams(raw); p.get(paramDB) != "d b" || p.get(paramRP) != "r" {
		t.Errorf("db %q rp %q", p.get(paramDB), p.get(paramRP))
	}
}
