package replica

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/influxgate/influxgate/internal/config"
)

// The limiter built from -rate lets one batch through at once and then
// paces the rest at the rate: 11 batches of 100 points at 1000 points/s
// take one second of (fake) time after the first batch.
func TestRateLimiterPacesBatches(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		o := ResyncOptions{Source: clientOf(t, config.OutputConfig{Name: "a", Location: "http://a/write"}),
			Target: clientOf(t, config.OutputConfig{Name: "b", Location: "http://b/write"}), Rate: 1000, BatchSize: 100}
		if err := o.defaults(); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := o.limiter.WaitN(context.Background(), 100); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d != 0 {
			t.Errorf("the first batch waited %v", d)
		}
		for range 10 {
			if err := o.limiter.WaitN(context.Background(), 100); err != nil {
				t.Fatal(err)
			}
		}
		if d := time.Since(start); d != time.Second {
			t.Errorf("1000 more points at 1000 points/s took %v, want 1s", d)
		}
		// A batch larger than the burst cannot pass: the copy never asks
		// for more than BatchSize.
		if err := o.limiter.WaitN(context.Background(), 101); err == nil {
			t.Error("a wait for more than a batch succeeded")
		}
	})
}

// Without -rate there is no limiter.
func TestNoRateNoLimiter(t *testing.T) {
	o := ResyncOptions{Source: clientOf(t, config.OutputConfig{Name: "a", Location: "http://a/write"}),
		Target: clientOf(t, config.OutputConfig{Name: "b", Location: "http://b/write"})}
	if err := o.defaults(); err != nil || o.limiter != nil {
		t.Errorf("defaults: %v, limiter %v", err, o.limiter)
	}
}
