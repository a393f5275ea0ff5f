package jetlog

import (
	"context"
	"errors"
	"testing"

	"github.com/nats-io/nats.go"
)

// A read that finds no responders is tried again (a node starting right
// after its bucket was created must not fail its start, as it once did in
// CI); any other error is returned at once.
func TestAnsweredRetriesOnlyNoResponders(t *testing.T) {
	calls := 0
	err := answered(func(context.Context) error {
		calls++
		if calls < 3 {
			return nats.ErrNoResponders
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("answered = %v after %d calls, want nil after 3", err, calls)
	}

	other := errors.New("key not found")
	calls = 0
	err = answered(func(context.Context) error { calls++; return other })
	if !errors.Is(err, other) || calls != 1 {
		t.Fatalf("answered = %v after %d calls, want %v after 1", err, calls, other)
	}
}
