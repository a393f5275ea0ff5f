package e2e

import (
	"fmt"
	"os"
	"sync"
	"testing"
)

// report logs a result line and, under make test (INFLUXGATE_TEST_REPORT
// names a file), appends it to that file, which make test prints at the
// end: go test shows nothing of a passing test.
func report(t testing.TB, format string, args ...any) {
	t.Helper()
	line := fmt.Sprintf("%s: %s", t.Name(), fmt.Sprintf(format, args...))
	t.Log(line)
	path := os.Getenv("INFLUXGATE_TEST_REPORT")
	if path == "" {
		return
	}
	reportMu.Lock()
	defer reportMu.Unlock()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Logf("report file: %v", err)
		return
	}
	defer f.Close()
	fmt.Fprintln(f, line)
}

var reportMu sync.Mutex
