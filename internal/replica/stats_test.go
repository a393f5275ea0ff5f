package replica

import (
	"math"
	"slices"
	"testing"
	"time"
)

func TestBucketStart(t *testing.T) {
	h := int64(time.Hour)
	tests := []struct{ t, want int64 }{
		{0, 0}, {1, 0}, {h - 1, 0}, {h, h}, {-1, -h}, {-h, -h}, {-h - 1, -2 * h},
		{math.MaxInt64 - 1, math.MaxInt64 - 1 - (math.MaxInt64-1)%h},
		{minTime, math.MinInt64}, // the bucket's start is below int64: saturate
	}
	for _, tt := range tests {
		if got := bucketStart(tt.t, h); got != tt.want {
			t.Errorf("bucketStart(%d) = %d, want %d", tt.t, got, tt.want)
		}
	}
}

func TestWindows(t *testing.T) {
	h := int64(time.Hour)
	got := windows(span{h/2 + 5, 50*h + 7}, h)
	want := []span{{h/2 + 5, 24 * h}, {24 * h, 48 * h}, {48 * h, 50*h + 7}}
	if !slices.Equal(got, want) {
		t.Errorf("windows = %v, want %v", got, want)
	}
	if got := windows(span{5, 5}, h); len(got) != 0 {
		t.Errorf("empty span: %v", got)
	}
	// The whole time range ends without overflowing.
	all := windows(span{maxTime - 30*h, maxTime + 1}, h)
	if len(all) < 2 || all[len(all)-1].to != maxTime+1 || all[0].from != maxTime-30*h {
		t.Errorf("windows at the end of time: %v", all)
	}
	for i := 1; i < len(all); i++ {
		if all[i].from != all[i-1].to {
			t.Errorf("windows not contiguous: %v", all)
		}
	}
	if bs := bucketSpan(48*h, h, span{0, 48*h + 10}); bs != (span{48 * h, 48*h + 10}) {
		t.Errorf("bucketSpan clipped: %v", bs)
	}
}

func TestDiffer(t *testing.T) {
	types := map[string][]string{"f": {"float"}, "i": {"integer"}, "b": {"boolean"}}
	base := stats{"count_f": "3", "sum_f": "0.6000000000000001", "min_f": "0.1", "max_f": "0.3",
		"count_i": "2", "sum_i": "5", "min_i": "2", "max_i": "3", "count_b": "1", "min_b": "true", "max_b": "true"}
	with := func(k, v string) stats {
		s := stats{}
		for kk, vv := range base {
			s[kk] = vv
		}
		if v == "" {
			delete(s, k)
		} else {
			s[k] = v
		}
		return s
	}
	tests := []struct {
		name string
		b    stats
		want []string
	}{
		{"same", with("count_f", "3"), nil},
		{"float sum in another order", with("sum_f", "0.6"), nil},
		{"float sum beyond rounding", with("sum_f", "0.7"), []string{"sum_f"}},
		{"integer sum exact", with("sum_i", "6"), []string{"sum_i"}},
		{"count", with("count_i", "1"), []string{"count_i"}},
		{"boolean max", with("max_b", "false"), []string{"max_b"}},
		{"float min", with("min_f", "0.2"), []string{"min_f"}},
		{"column missing", with("count_b", ""), []string{"count_b"}},
		{"sums not compared when one side could not print them", with("sum_f", ""), nil}, // marked below
	}
	tests[len(tests)-1].b[noSumColumn] = "true"
	tests[len(tests)-1].b["sum_i"] = "99"
	for _, tt := range tests {
		if got := differ(base, tt.b, types); !slices.Equal(got, tt.want) {
			t.Errorf("%s: differ = %v, want %v", tt.name, got, tt.want)
		}
	}
	if got := differ(nil, base, types); len(got) != len(base) {
		t.Errorf("bucket missing on one side: %v", got)
	}
	if n := base.points(); n != 3 {
		t.Errorf("points = %d, want 3", n)
	}
}

func TestDurationLit(t *testing.T) {
	for d, want := range map[time.Duration]string{
		time.Hour: "1h", 7 * 24 * time.Hour: "1w", 48 * time.Hour: "2d", 90 * time.Minute: "90m",
		1500 * time.Millisecond: "1500ms", 3 * time.Microsecond: "3u", 7: "7ns",
	} {
		if got := durationLit(d); got != want {
			t.Errorf("durationLit(%v) = %s, want %s", d, got, want)
		}
	}
	if got := rpDuration(0); got != "INF" {
		t.Errorf("rpDuration(0) = %s", got)
	}
}

func TestQuoteIdent(t *testing.T) {
	if got := quoteIdent(`a "b" \c`); got != `"a \"b\" \\c"` {
		t.Errorf("quoteIdent = %s", got)
	}
}
