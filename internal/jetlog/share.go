package jetlog

import (
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/influxgate/influxgate/internal/backend"
	"github.com/influxgate/influxgate/internal/influxerr"
	"github.com/influxgate/influxgate/internal/relay"
)

// share carries what deliverers tell the other nodes, on core NATS
// subjects (<prefix>.relay.<relay>.verdicts and .state): at most once,
// which is enough. A lost verdict makes a write with consistency one,
// quorum or all on another node time out although it was delivered (the
// client retries a harmless duplicate); a lost state report is replaced by
// the next, a quarter second later.
//
// Verdicts are many (one per record and backend), so they are gathered for
// a millisecond and sent as one message.
type share struct {
	c       *Conn
	subject string

	mu      sync.Mutex
	pending []verdictJSON
	kick    chan struct{}
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
}

// verdictJSON is one backend's verdict on one record.
type verdictJSON struct {
	Backend    string        `json:"b"`
	Index      uint64        `json:"i"`
	Class      backend.Class `json:"c"`
	Status     int           `json:"s,omitempty"`
	Reason     string        `json:"r,omitempty"`
	Body       []byte        `json:"body,omitempty"`
	Err        string        `json:"e,omitempty"`
	RetryAfter time.Duration `json:"ra,omitempty"`
}

type verdictsJSON struct {
	Node     string        `json:"n"`
	Verdicts []verdictJSON `json:"v"`
}

type stateJSON struct {
	Node    string            `json:"n"`
	Backend string            `json:"b"`
	State   relay.RemoteState `json:"s"`
}

// maxVerdictBody bounds the answer body a verdict carries: InfluxDB quotes
// bad lines in its errors; the client of another node gets the message cut.
const maxVerdictBody = 16 << 10

func newShare(c *Conn, subject string) *share {
	s := &share{c: c, subject: subject, kick: make(chan struct{}, 1),
		stop: make(chan struct{}), done: make(chan struct{})}
	go s.flusher()
	return s
}

func (s *share) close() {
	s.once.Do(func() {
		close(s.stop)
		<-s.done
	})
}

func (s *share) flusher() {
	defer close(s.done)
	for {
		select {
		case <-s.stop:
			s.flush()
			return
		case <-s.kick:
		}
		time.Sleep(time.Millisecond)
		s.flush()
	}
}

func (s *share) flush() {
	s.mu.Lock()
	batch := s.pending
	s.pending = nil
	s.mu.Unlock()
	limit := int(s.c.nc.MaxPayload()) / 2
	for len(batch) > 0 {
		// Split so that one message stays well within max_payload.
		n, size := 0, 0
		for n < len(batch) && (n == 0 || size+len(batch[n].Body)+128 < limit) {
			size += len(batch[n].Body) + 128
			n++
		}
		data, err := json.Marshal(verdictsJSON{Node: s.c.node, Verdicts: batch[:n]})
		if err == nil {
			err = s.c.nc.Publish(s.subject+".verdicts", data)
		}
		if err != nil {
			s.c.logger.Debug("cannot publish verdicts", "err", err)
		}
		batch = batch[n:]
	}
}

// PublishVerdict queues backend's verdict on record idx for the others.
func (l *Log) PublishVerdict(name string, idx uint64, res *backend.Result) {
	v := verdictJSON{Backend: name, Index: idx, Class: res.Class, Status: res.Status, Reason: res.Reason,
		Body: res.Body, RetryAfter: res.RetryAfter}
	if res.Err != nil {
		v.Err = res.Err.Error()
	}
	if len(v.Body) > maxVerdictBody {
		msg := res.Message()
		if len(msg) > maxVerdictBody-100 {
			msg = msg[:maxVerdictBody-100] + " … (cut)"
		}
		v.Body = influxerr.Body(msg)
	}
	s := l.share
	s.mu.Lock()
	s.pending = append(s.pending, v)
	first := len(s.pending) == 1
	s.mu.Unlock()
	if first {
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
}

// PublishState tells the others where delivery to backend stands.
func (l *Log) PublishState(name string, st relay.RemoteState) {
	data, err := json.Marshal(stateJSON{Node: l.c.node, Backend: name, State: st})
	if err == nil {
		err = l.c.nc.Publish(l.share.subject+".state", data)
	}
	if err != nil {
		l.c.logger.Debug("cannot publish a backend's state", "err", err)
	}
}

// Subscribe hands the other nodes' verdicts and states to h.
func (l *Log) Subscribe(h relay.SharedHandler) (func(), error) {
	node := l.c.node
	sv, err := l.c.nc.Subscribe(l.share.subject+".verdicts", func(m *nats.Msg) {
		var vs verdictsJSON
		if json.Unmarshal(m.Data, &vs) != nil || vs.Node == node {
			return
		}
		for _, v := range vs.Verdicts {
			res := backend.Result{Class: v.Class, Status: v.Status, Body: v.Body, Reason: v.Reason, RetryAfter: v.RetryAfter}
			if v.Err != "" {
				res.Err = errors.New(v.Err)
			}
			h.RemoteVerdict(v.Backend, v.Index, &res)
		}
	})
	if err != nil {
		return nil, err
	}
	ss, err := l.c.nc.Subscribe(l.share.subject+".state", func(m *nats.Msg) {
		var st stateJSON
		if json.Unmarshal(m.Data, &st) != nil || st.Node == node {
			return
		}
		h.RemoteState(st.Backend, st.State)
	})
	if err != nil {
		_ = sv.Unsubscribe()
		return nil, err
	}
	// Pending limits: a node that falls behind drops reports rather than
	// grow without bound (verdicts are at most once anyway).
	_ = sv.SetPendingLimits(1<<16, 64<<20)
	if err := l.c.nc.Flush(); err != nil {
		l.c.logger.Debug("flush after subscribing", "err", err)
	}
	return func() {
		_ = sv.Unsubscribe()
		_ = ss.Unsubscribe()
	}, nil
}
