package jetlog

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/influxgate/influxgate/internal/backend"
	"github.com/influxgate/influxgate/internal/config"
	"github.com/influxgate/influxgate/internal/record"
	"github.com/influxgate/influxgate/internal/relay"
	"github.com/influxgate/influxgate/internal/testnats"
)

// okSender is a backend that accepts everything at once.
type okSender struct{}

func (okSender) Write(ctx context.Context, b *backend.Batch) backend.Result {
	return backend.Classify(http.StatusNoContent, nil, nil, nil)
}
func (okSender) Exec(ctx context.Context, rec *record.Record) backend.Result {
	return backend.Classify(http.StatusNoContent, nil, nil, nil)
}
func (okSender) Probe(ctx context.Context) error { return nil }
func (okSender) Close()                          {}

// TestMeasureRelay measures a relay on the JetStream log end to end (32
// writers of 10-line records, consistency any, two backends that accept
// at once): appends, reads, verdicts and cursors, without HTTP. Run it with
// -cpuprofile to see where the time goes.
func TestMeasureRelay(t *testing.T) {
	measuring(t)
	nc := testnats.Start(t, testnats.Options{Servers: 1})
	cfg := storeConfig(nc.URLs(), 1)
	r, err := relay.New(relay.Options{Name: "p", Dir: t.TempDir(),
		Outputs:   []config.OutputConfig{{Name: "a", Location: "http://x/write"}, {Name: "b", Location: "http://y/write"}},
		OpenLog:   OpenFunc(Config{Store: cfg, Node: "n"}),
		NewSender: func(config.OutputConfig) (relay.Sender, error) { return okSender{}, nil }})
	if err != nil {
		t.Fatal(err)
	}
	r.Start()
	defer r.Close(context.Background())
	time.Sleep(500 * time.Millisecond)
	var n atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	body := []byte{}
	for i := range 10 {
		body = fmt.Appendf(body, "m,host=h%d v=%d 1700000000000000000\n", i, i)
	}
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Since(start) < 5*time.Second {
				rec := record.Record{Kind: record.KindWrite, DB: "db", Received: time.Now().UnixNano(), Lines: 10, Body: body}
				a := r.Write(context.Background(), &rec, relay.Any)
				if a.Status != 204 {
					t.Error(a.Status)
					return
				}
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	t.Logf("%.0f writes/s", float64(n.Load())/time.Since(start).Seconds())
}
