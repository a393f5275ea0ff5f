package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/influxgate/influxgate/internal/bench"
)

func TestList(t *testing.T) {
	var out, errs bytes.Buffer
	if code := run([]string{"-list"}, &out, &errs); code != 0 {
		t.Fatalf("exit %d: %s", code, errs.String())
	}
	for _, s := range bench.Scenarios {
		if !strings.Contains(out.String(), s.Name) {
			t.Errorf("-list does not name %s:\n%s", s.Name, out.String())
		}
	}
}

func TestBadArguments(t *testing.T) {
	for _, args := range [][]string{
		{"-scenario", "nope", "-no-ceiling", "-no-influxgate"},
		{"-relay", "no-path"},
		{"-relay-env", "=x"},
		{"-duration", "soon", "-no-ceiling", "-no-influxgate", "-scenario", "large"},
		{"-no-ceiling", "-no-influxgate", "-scenario", "large"}, // nothing to measure
	} {
		var out, errs bytes.Buffer
		if code := run(args, &out, &errs); code == 0 {
			t.Errorf("%q: exit 0, want an error", args)
		} else if errs.Len() == 0 {
			t.Errorf("%q: exit %d without a message", args, code)
		}
	}
}

func TestTraceStatesArguments(t *testing.T) {
	var out, errs bytes.Buffer
	if code := runTraceStates(nil, &out, &errs); code != 2 || errs.Len() == 0 {
		t.Errorf("no file: exit %d, %q", code, errs.String())
	}
	errs.Reset()
	if code := runTraceStates([]string{"main_test.go"}, &out, &errs); code != 1 || !strings.Contains(errs.String(), "main_test.go") {
		t.Errorf("not a trace: exit %d, %q", code, errs.String())
	}
}

func TestEnvFlags(t *testing.T) {
	var e envFlags
	if err := e.Set("GOGC=50"); err != nil {
		t.Fatal(err)
	}
	if err := e.Set("GODEBUG="); err != nil {
		t.Fatal(err)
	}
	if e.String() != "GOGC=50 GODEBUG=" {
		t.Errorf("envFlags = %q", e.String())
	}
	if err := e.Set("GOGC"); err == nil {
		t.Errorf("KEY without =VALUE accepted")
	}
}
