package e2e

import (
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// python3-influxdb (Debian's InfluxDBClient) writes, creates and reads
// through influxgate (testdata/python_client.py checks what it reads
// back); both replicas then hold exactly what it wrote, in the default
// retention policy and in the one it created.
func TestClientPython(t *testing.T) {
	t.Parallel()
	python := pythonInfluxDB(t)
	script, err := filepath.Abs(filepath.Join("testdata", "python_client.py"))
	if err != nil {
		t.Fatal(err)
	}
	a, b := twoBackends(t, "")
	g := startGate(t, newConfig(t, a, b))
	host, port, err := net.SplitHostPort(strings.TrimPrefix(g.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	out := runClient(t, 2*time.Minute, python, script, host, port, "pydb")
	t.Log(strings.TrimSpace(out))

	want := []string{
		`"forever".pyrp v=4.5 1700000004000000000`,
		`py,dc=eu\ west,host=a b=true,f=1.5,i=7i,s="he said \"hi\" \\o/" 1700000000123456789`,
		`py,host=b f=-2.25 1700000001500000000`,
		`pyline,host=l v=1i 1700000002000000000`,
		`pyline,host=m v=2i 1700000003000000000`,
	}
	for i := range 250 {
		want = append(want, fmt.Sprintf("pybatch,n=%03d,source=python v=%di %d", i, i, int64(1700000100+i)*int64(time.Second)))
	}
	slices.Sort(want)
	g.waitCaughtUp(t, 10*time.Second)
	samePoints(t, "pydb", want, a, b)
}
