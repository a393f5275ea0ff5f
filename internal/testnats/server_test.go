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
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "t", Subjects: []string{"t"}, Replicas: 3}); err != nil {
		t.Fatal(err)
	}
	c.Servers[0].Kill(t)
	// The stream may have lost its leader: a publish succeeds again once
	// the two others elected one (seconds).
	for i := range 10 {
		deadline := time.Now().Add(15 * time.Second)
		for {
			_, err := js.Publish(ctx, "t", []byte{byte(i)}, jetstream.WithMsgID(fmt.Sprint(i)))
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("publish with one server down: %v", err)
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
