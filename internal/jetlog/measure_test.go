package jetlog

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/influxgate/influxgate/internal/testnats"
)

// The measurements behind the package doc's choice of a lease over a
// durable consumer per backend. They assert nothing (they measure), so
// they run only with JETLOG_MEASURE=1:
//
//	JETLOG_MEASURE=1 go test -run TestMeasure -v ./internal/jetlog

func measuring(t *testing.T) {
	if os.Getenv("JETLOG_MEASURE") == "" {
		t.Skip("a measurement: set JETLOG_MEASURE=1 to run it")
	}
}

const measureRecords = 20000

// measureStream starts a three-server cluster and fills an R3 stream with
// measureRecords records of 1 KiB.
func measureStream(t *testing.T) (*testnats.Cluster, jetstream.JetStream, func() *nats.Conn) {
	nc := testnats.Start(t, testnats.Options{Servers: 3})
	connect := func() *nats.Conn {
		c, err := nats.Connect(strings.Join(nc.URLs(), ","))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		return c
	}
	js, _ := jetstream.New(connect())
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "m", Subjects: []string{"m"}, Replicas: 3}); err != nil {
		t.Fatal(err)
	}
	payload := make([]byte, 1024)
	start := time.Now()
	for i := range measureRecords {
		if _, err := js.PublishAsync("m", payload); err != nil {
			t.Fatal(err)
		}
		if i%1000 == 999 {
			select {
			case <-js.PublishAsyncComplete():
			case <-time.After(time.Minute):
				t.Fatal("async publishes not acknowledged within a minute")
			}
		}
	}
	t.Logf("filled: %d records of 1 KiB into an R3 stream in %v (async publish)", measureRecords, time.Since(start).Round(time.Millisecond))
	return nc, js, connect
}

// TestMeasureReadThroughput compares how fast one deliverer gets the
// records in order: the ordered consumer (the lease design), a durable
// pull consumer with MaxAckPending 1 (order across competing pullers) and
// with MaxAckPending 1000 (one puller at a time only), and a pinned-client
// priority group.
func TestMeasureReadThroughput(t *testing.T) {
	measuring(t)
	_, js, _ := measureStream(t)
	ctx := context.Background()

	oc, err := js.OrderedConsumer(ctx, "m", jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	it, _ := oc.Messages(jetstream.PullMaxMessages(pullMessages))
	start := time.Now()
	for range measureRecords {
		if _, err := it.Next(); err != nil {
			t.Fatal(err)
		}
	}
	it.Stop()
	t.Logf("ordered consumer:               %8.0f records/s", measureRecords/time.Since(start).Seconds())

	durable := func(name string, cfg jetstream.ConsumerConfig, group string, n int) {
		cfg.Durable = fmt.Sprintf("d%d", time.Now().UnixNano())
		if cfg.AckPolicy == jetstream.AckNonePolicy {
			cfg.AckPolicy = jetstream.AckExplicitPolicy
		}
		c, err := js.CreateConsumer(ctx, "m", cfg)
		if err != nil {
			t.Fatal(err)
		}
		opts := []jetstream.FetchOpt{jetstream.FetchMaxWait(2 * time.Second)}
		if group != "" {
			opts = append(opts, jetstream.FetchPriorityGroup(group))
		}
		got := 0
		start := time.Now()
		for got < n {
			b, err := c.Fetch(100, opts...)
			if err != nil {
				t.Fatal(err)
			}
			var last jetstream.Msg
			for m := range b.Messages() {
				got++
				last = m
				if cfg.MaxAckPending == 1 {
					if err := m.DoubleAck(ctx); err != nil {
						t.Fatal(err)
					}
				}
			}
			if last != nil && cfg.MaxAckPending != 1 {
				_ = last.Ack()
			}
		}
		t.Logf("%-31s %8.0f records/s", name+":", float64(n)/time.Since(start).Seconds())
	}
	durable("pull MaxAckPending=1", jetstream.ConsumerConfig{MaxAckPending: 1}, "", 2000)
	durable("pull MaxAckPending=1000", jetstream.ConsumerConfig{MaxAckPending: 1000, AckPolicy: jetstream.AckAllPolicy}, "", measureRecords)
	durable("pinned MaxAckPending=1000", jetstream.ConsumerConfig{MaxAckPending: 1000, AckPolicy: jetstream.AckAllPolicy, PriorityPolicy: jetstream.PriorityPolicyPinned,
		PinnedTTL: time.Second, PriorityGroups: []string{"g"}}, "g", measureRecords)
}

// TestMeasurePinnedTakeover measures the pinned-client priority group's
// takeover: a first client takes 100 records, acknowledges the first 50
// and dies; how long until a second client (pulling all along) gets
// records, and in which order?
func TestMeasurePinnedTakeover(t *testing.T) {
	measuring(t)
	_, js, connect := measureStream(t)
	ctx := context.Background()
	for _, ackWait := range []time.Duration{2 * time.Second, 10 * time.Second} {
		name := fmt.Sprintf("pin%d", ackWait/time.Second)
		cfg := jetstream.ConsumerConfig{Durable: name, AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: 1000,
			AckWait: ackWait, PriorityPolicy: jetstream.PriorityPolicyPinned, PinnedTTL: time.Second, PriorityGroups: []string{"g"}}
		if _, err := js.CreateConsumer(ctx, "m", cfg); err != nil {
			t.Fatal(err)
		}
		bind := func() jetstream.Consumer {
			j, _ := jetstream.New(connect())
			c, err := j.Consumer(ctx, "m", name)
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
		first := bind()
		b, err := first.Fetch(100, jetstream.FetchPriorityGroup("g"), jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for m := range b.Messages() {
			n++
			if n <= 50 {
				_ = m.DoubleAck(ctx)
			}
		}
		died := time.Now() // the first client stops pulling and never acks 51..100
		second := bind()
		var seqs []uint64
		var firstAt, redelivered time.Time
		// Pull until the unacknowledged records had time to come back.
		for time.Since(died) < ackWait+3*time.Second {
			b, err := second.Fetch(50, jetstream.FetchPriorityGroup("g"), jetstream.FetchMaxWait(500*time.Millisecond))
			if err != nil {
				continue
			}
			for m := range b.Messages() {
				meta, _ := m.Metadata()
				if firstAt.IsZero() {
					firstAt = time.Now()
				}
				seqs = append(seqs, meta.Sequence.Stream)
				if meta.Sequence.Stream == 51 {
					redelivered = time.Now()
				}
				_ = m.Ack()
			}
		}
		inversions, back := 0, time.Duration(0)
		for i := 1; i < len(seqs); i++ {
			if seqs[i] < seqs[i-1] {
				inversions++
			}
		}
		_ = back
		show := seqs
		if len(show) > 12 {
			show = show[:12]
		}
		t.Logf("pinned, PinnedTTL 1s, AckWait %v: second client's first record %v after the first died; first sequences %v; %d order inversions in %d records (51-100 redelivered after %v)",
			ackWait, firstAt.Sub(died).Round(time.Millisecond), show, inversions, len(seqs), redelivered.Sub(died).Round(time.Millisecond))
	}
}

// TestMeasureLeaseTakeover measures the lease's takeover on the cluster:
// the holder's connection dies (a node killed), and a standby node
// claims the lease once it expires; with the default lease-ttl and with 1s.
func TestMeasureLeaseTakeover(t *testing.T) {
	measuring(t)
	nc := testnats.Start(t, testnats.Options{Servers: 3})
	for _, ttl := range []time.Duration{time.Second, 3 * time.Second} {
		cfg := storeConfig(nc.URLs(), 3)
		cfg.LeaseTTL, cfg.StreamPrefix = ttl, fmt.Sprintf("t%d", ttl/time.Second)
		for round := range 3 {
			a := openLog(t, cfg, "a", "h")
			b := openLog(t, cfg, "b", "h")
			if _, err := a.Lease("out").Acquire(context.Background()); err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Duration(round) * ttl / 3) // at different points of the renewal period
			a.Close()                                  // no release: the connection just goes
			died := time.Now()
			if _, err := b.Lease("out").Acquire(context.Background()); err != nil {
				t.Fatal(err)
			}
			t.Logf("lease-ttl %v: taken over %v after the holder died", ttl, time.Since(died).Round(10*time.Millisecond))
			b.Lease("out").Release()
			b.Close()
		}
	}
}

// TestMeasureAppend measures Append with 8 concurrent appenders on one
// server and on a cluster of three (R3), for small and large records.
func TestMeasureAppend(t *testing.T) {
	measuring(t)
	for _, n := range []int{1, 3} {
		nc := testnats.Start(t, testnats.Options{Servers: n})
		cfg := storeConfig(nc.URLs(), n)
		l := openLog(t, cfg, "a", "h")
		for _, size := range []int{1000, 400000} {
			payload := make([]byte, size)
			var wg sync.WaitGroup
			start := time.Now()
			count := 0
			var mu sync.Mutex
			for range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for time.Since(start) < 3*time.Second {
						if _, err := l.Append(payload); err != nil {
							t.Error(err)
							return
						}
						mu.Lock()
						count++
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			el := time.Since(start)
			t.Logf("servers=%d size=%d: %.0f appends/s, %.1f MB/s, %.2f ms/append", n, size, float64(count)/el.Seconds(), float64(count*size)/el.Seconds()/1e6, el.Seconds()*1000*8/float64(count))
		}
	}
}
