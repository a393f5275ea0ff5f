package query

import (
	"errors"
	"strings"
	"testing"
)

func TestClassify(t *testing.T) {
	cases := []struct {
		q    string
		want Class
	}{
		{"SELECT * FROM cpu", Read},
		{"select mean(v) from cpu where time > now() - 1h group by time(1m)", Read},
		{"SHOW DATABASES", Read},
		{"SHOW MEASUREMENTS; SHOW TAG KEYS FROM cpu; SHOW FIELD KEYS", Read},
		{"SHOW RETENTION POLICIES ON db", Read},
		{"SHOW SERIES CARDINALITY", Read},
		{"SHOW USERS", Read},
		{"EXPLAIN SELECT * FROM cpu", Read},
		{"EXPLAIN ANALYZE SELECT * FROM cpu", Read},
		{"KILL QUERY 12", Read},
		{"SELECT * FROM cpu WHERE host = $host", Read},
		{"CREATE DATABASE x", Change},
		{"DROP DATABASE x", Change},
		{"CREATE RETENTION POLICY week ON x DURATION 7d REPLICATION 1 DEFAULT", Change},
		{"ALTER RETENTION POLICY week ON x DURATION 14d", Change},
		{"DROP RETENTION POLICY week ON x", Change},
		{"CREATE USER u WITH PASSWORD 'p'", Change},
		{"SET PASSWORD FOR u = 'q'", Change},
		{"GRANT READ ON x TO u", Change},
		{"REVOKE ALL PRIVILEGES FROM u", Change},
		{"DROP USER u", Change},
		{"DELETE FROM cpu WHERE time < now() - 30d", Change},
		{"DROP MEASUREMENT cpu", Change},
		{"DROP SERIES FROM cpu WHERE host = 'a'", Change},
		{`CREATE CONTINUOUS QUERY cq ON x BEGIN SELECT mean(v) INTO m FROM cpu GROUP BY time(1h) END`, Change},
		{"SELECT mean(v) INTO cpu_1h FROM cpu GROUP BY time(1h)", Change},
		{"SHOW DATABASES; CREATE DATABASE y", Change}, // mixed: a change
	}
	for _, c := range cases {
		got, err := Classify(c.q, map[string]any{"host": "a"})
		if err != nil || got != c.want {
			t.Errorf("Classify(%q) = %v, %v; want %v", c.q, got, err, c.want)
		}
	}
}

func TestClassifyErrors(t *testing.T) {
	_, err := Classify("SELEC * FROM cpu", nil)
	var pe *ParseError
	if !errors.As(err, &pe) || !strings.HasPrefix(err.Error(), "error parsing query: found SELEC, expected") {
		t.Errorf("parse error = %v", err)
	}
	_, err = Classify("DROP SHARD 1", nil)
	var re *RefusedError
	if !errors.As(err, &re) {
		t.Errorf("DROP SHARD: %v", err)
	}
}

func FuzzClassify(f *testing.F) {
	for _, s := range []string{"SELECT * FROM cpu", "CREATE DATABASE x; SHOW DATABASES", "SELECT a INTO b FROM c", "DROP SHARD 1", "'"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		c, err := Classify(q, nil)
		if err == nil && c != Read && c != Change {
			t.Fatalf("class %d", c)
		}
	})
}
