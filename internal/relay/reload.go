package relay

import (
	"context"
	"fmt"
	"reflect"
	"time"

	"github.com/influxgate/influxgate/internal/config"
)

// Reconfigure replaces the relay's outputs without closing its log: it
// waits for in-flight writes, stops the workers, saves every cursor, and
// starts workers for the new outputs. An output that stays (same name)
// resumes from its cursor with its new settings; a new one starts at the
// head of the log; the cursor of a removed one is forgotten. On an error
// the old outputs are restored.
func (r *Relay) Reconfigure(outputs []config.OutputConfig, writeTimeout, deadLetterAfter time.Duration) error {
	if len(outputs) == 0 || len(outputs) > 64 {
		return fmt.Errorf("relay %s: want 1 to 64 outputs, got %d", r.opts.Name, len(outputs))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if writeTimeout > 0 {
		r.opts.WriteTimeout = writeTimeout
	}
	if deadLetterAfter > 0 && deadLetterAfter != r.opts.DeadLetterAfter {
		// Read by running workers: restart them to apply it.
		r.opts.DeadLetterAfter = deadLetterAfter
		if r.cancel != nil {
			r.cancel()
			r.wg.Wait()
			r.start()
		}
	}
	if reflect.DeepEqual(outputs, r.opts.Outputs) {
		return nil
	}
	running := r.cancel != nil
	if running {
		r.cancel()
		r.wg.Wait()
		r.cancel = nil
	}
	r.persistCursors()
	old := r.opts.Outputs
	oldWorkers, oldByName, oldAll, oldTracker := r.workers, r.byName, r.all, r.tracker
	if err := r.buildWorkers(outputs); err != nil {
		_ = r.closeWorkers() // the half-built new ones
		r.workers, r.byName, r.all, r.tracker = oldWorkers, oldByName, oldAll, oldTracker
		if running {
			r.start()
		}
		return err
	}
	// The new workers hold their own readers and connections.
	newWorkers := r.workers
	r.workers = oldWorkers
	_ = r.closeWorkers()
	r.workers = newWorkers
	r.opts.Outputs = outputs
	for _, o := range old {
		if _, ok := r.byName[o.Name]; !ok {
			r.logger.Info("output removed by a reload", "backend", o.Name)
		}
	}
	r.logSummary("reconfigured")
	if running {
		r.start()
	}
	return nil
}

// start launches a goroutine per worker and the housekeeper; r.mu is held.
func (r *Relay) start() {
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	for _, w := range r.workers {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			w.run(ctx)
		}()
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		r.housekeep(ctx)
	}()
}
