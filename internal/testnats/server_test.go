package testnats

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func TestClusterSurvivesOneServer(t *testing.T) {
	c := Start(t, Options{Servers: 3})
	nc, err := nats.Connect(strings.Join(c.URLs(), ","))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "t", Subjects: []string{"t"}, Replicas: 3}); err != nil {
		t.Fatal(err)
	}
	c.Servers[0].Kill(t)
	// The stream may have lost its leader: a publish succeeds again once
	// the two others elected one (seconds). A publish that reached the
	// killed leader gets no answer at all and waits out its context, so
	// each try has its own short one.
	for i := range 10 {
		deadline := time.Now().Add(20 * time.Second)
		for {
			try, cancelTry := context.WithTimeout(ctx, 2*time.Second)
			_, err := js.Publish(try, "t", []byte{byte(i)}, jetstream.WithMsgID(fmt.Sprint(i)))
			cancelTry()
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("publish %d with one server down: %v", i, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	c.Servers[0].Restart(t)
	st, err := js.Stream(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	if n := st.CachedInfo().State.Msgs; n != 10 {
		t.Fatalf("stream holds %d messages, want 10", n)
	}
}
