package relay

import (
	"context"
	"sync"
	"time"

	"github.com/influxgate/influxgate/internal/config"
	"github.com/influxgate/influxgate/internal/record"
)

// workerSet is the workers of one configuration of a relay's outputs. A
// reload replaces it whole (Relay.set); writes, /health and query routing
// read it without a lock, so a reload never stalls them.
type workerSet struct {
	outputs         []config.OutputConfig
	deadLetterAfter time.Duration
	workers         []*worker
	byName          map[string]*worker
	all             uint64
	tracker         *tracker

	cancel context.CancelFunc // nil until started
	wg     sync.WaitGroup
}

// live is the set of backends that are caught up now.
func (s *workerSet) live() uint64 {
	var set uint64
	for _, w := range s.workers {
		if w.State() == StateLive {
			set |= w.bit
		}
	}
	return set
}

// targets is the set of backends a record goes to.
func (s *workerSet) targets(rec *record.Record) uint64 {
	if rec.Only != "" {
		if w := s.byName[rec.Only]; w != nil {
			return w.bit
		}
		return 0
	}
	return s.all
}

func (s *workerSet) others(rec *record.Record, self uint64) uint64 { return s.targets(rec) &^ self }

// start launches a goroutine per worker.
func (s *workerSet) start() {
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	for _, w := range s.workers {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			w.run(ctx)
		}()
	}
}

// stop stops the workers and waits for them.
func (s *workerSet) stop() {
	if s.cancel != nil {
		s.cancel()
		s.wg.Wait()
		s.cancel = nil
	}
}

// caughtUp reports whether every backend that is not down has everything
// up to last.
func (s *workerSet) caughtUp(last uint64) bool {
	for _, w := range s.workers {
		if w.standby.Load() {
			continue // another node delivers; nothing to drain here
		}
		if w.next.Load() <= last && w.State() != StateDown {
			return false
		}
	}
	return true
}
