package jetlog

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/influxgate/influxgate/internal/record"
	"github.com/influxgate/influxgate/internal/testnats"
)

// lostPullProxy is a fault injector: a TCP proxy in front of one
// nats-server that, while armed, drops the next pull request a client
// sends through it (a PUB to $JS.API.CONSUMER.MSG.NEXT.…). In a cluster a
// pull can be lost that way: sent right after its consumer was created, it
// reaches a server that has not learnt of the consumer yet and is answered
// "no responders", which the client library ignores. A real server does
// not do that on demand.
type lostPullProxy struct {
	addr    string
	armed   atomic.Bool
	dropped atomic.Int32
}

func newLostPullProxy(t *testing.T, server string) *lostPullProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	p := &lostPullProxy{addr: "nats://" + ln.Addr().String()}
	target := strings.TrimPrefix(server, "nats://")
	go func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			srv, err := net.Dial("tcp", target)
			if err != nil {
				client.Close()
				continue
			}
			go func() {
				_, _ = io.Copy(client, srv)
				client.Close()
			}()
			go func() {
				p.forward(srv, bufio.NewReader(client))
				srv.Close()
			}()
		}
	}()
	return p
}

// forward copies the client's protocol to the server a command at a time
// (a control line, and for PUB and HPUB the payload and its CRLF).
func (p *lostPullProxy) forward(dst io.Writer, src *bufio.Reader) {
	for {
		line, err := src.ReadBytes('\n')
		if err != nil {
			return
		}
		var payload []byte
		f := strings.Fields(string(line))
		if len(f) >= 3 && (f[0] == "PUB" || f[0] == "HPUB") {
			size, err := strconv.Atoi(f[len(f)-1])
			if err != nil {
				return
			}
			payload = make([]byte, size+2)
			if _, err := io.ReadFull(src, payload); err != nil {
				return
			}
			if strings.HasPrefix(f[1], "$JS.API.CONSUMER.MSG.NEXT.") && p.armed.CompareAndSwap(true, false) {
				p.dropped.Add(1)
				continue
			}
		}
		if _, err := dst.Write(append(line, payload...)); err != nil {
			return
		}
	}
}

// A reader whose pull was lost gets the records anyway, within a few
// heartbeats (pullHeartbeat), not after the client library's default of
// ten seconds: a backend must not wait longer than a write does for its
// answer.
func TestReaderGetsPastALostPull(t *testing.T) {
	nc := testnats.Start(t, testnats.Options{Servers: 1})
	proxy := newLostPullProxy(t, nc.URLs()[0])
	l := openLog(t, storeConfig([]string{proxy.addr}, 1), "a", "http")
	if _, err := l.Append([]byte("rec 1")); err != nil {
		t.Fatal(err)
	}
	rd, err := l.NewReader(1)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	proxy.armed.Store(true)
	start := time.Now()
	for {
		es, err := rd.Read(1 << 20)
		if err != nil {
			t.Fatal(err)
		}
		if len(es) > 0 {
			if es[0].Index != 1 || string(es[0].Data) != "rec 1" {
				t.Fatalf("read %d %q, want 1 \"rec 1\"", es[0].Index, es[0].Data)
			}
			break
		}
		if time.Since(start) > 6*time.Second {
			t.Fatalf("no record %v after the reader's pull was lost", time.Since(start).Round(time.Millisecond))
		}
	}
	if proxy.dropped.Load() != 1 {
		t.Fatalf("the proxy dropped %d pulls, want 1: the test did not lose the reader's pull", proxy.dropped.Load())
	}
	t.Logf("record read %v after the pull was lost", time.Since(start).Round(time.Millisecond))
}

// A drain whose fetch was lost fetches again; it neither stops early nor
// deletes records it did not hand over.
func TestDrainGetsPastALostFetch(t *testing.T) {
	nc := testnats.Start(t, testnats.Options{Servers: 1})
	proxy := newLostPullProxy(t, nc.URLs()[0])
	l := openLog(t, storeConfig([]string{proxy.addr}, 1), "a", "http")
	store := l.DeadLetters("b")
	for i := range 3 {
		rec := &record.Record{Kind: record.KindWrite, DB: "db", Lines: 1, Body: fmt.Appendf(nil, "m v=%d %d\n", i, i)}
		if err := store.Add(rec); err != nil {
			t.Fatal(err)
		}
	}
	proxy.armed.Store(true)
	var got [][]byte
	n, err := store.Drain(func(r *record.Record) error {
		got = append(got, r.Body)
		return nil
	})
	if proxy.dropped.Load() != 1 {
		t.Fatalf("the proxy dropped %d pulls, want 1: the test did not lose the drain's fetch", proxy.dropped.Load())
	}
	if err != nil || n != 3 {
		t.Fatalf("drained %d records (%v), want 3", n, err)
	}
	if want := []byte("m v=0 0\nm v=1 1\nm v=2 2\n"); !bytes.Equal(bytes.Join(got, nil), want) {
		t.Errorf("drained %q, want %q", bytes.Join(got, nil), want)
	}
	if left, err := store.Open(); err != nil || left != 0 {
		t.Errorf("%d dead letters left after the drain (%v), want 0", left, err)
	}
}
