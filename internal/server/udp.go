package server

import (
	"context"
	"time"

	"github.com/influxgate/influxgate/internal/config"
	"github.com/influxgate/influxgate/internal/jetlog"
	"github.com/influxgate/influxgate/internal/relay"
	"github.com/influxgate/influxgate/internal/udp"
	"github.com/influxgate/influxgate/internal/wal"
)

// udpListener is one [[udp]] section: the listener and, when the section
// has HTTP outputs, the relay that gives them the durable log.
type udpListener struct {
	cfg   config.UDPConfig
	ln    *udp.Listener
	relay *relay.Relay // nil without HTTP outputs
}

// openUDP opens a relay (under data-dir/<name>) for every [[udp]] section
// with HTTP outputs and binds every UDP listener, so that start-up
// problems show before anything is served.
func (s *Server) openUDP() error {
	syncMode, err := wal.ParseSyncMode(s.cfg.Sync)
	if err != nil {
		return err
	}
	relayMetrics := s.relayMetrics
	metrics := udp.NewMetrics(s.reg)
	for _, uc := range s.cfg.UDP {
		u := &udpListener{cfg: uc}
		s.udp = append(s.udp, u)
		r, err := s.openUDPRelay(uc, syncMode)
		if err != nil {
			return err
		}
		if r != nil {
			u.relay = r
			relayMetrics.Track(r)
		}
		ln, err := udp.Listen(udp.Options{Config: uc, Relay: u.relay, Logger: s.opts.Logger})
		if err != nil {
			return err
		}
		u.ln = ln
		metrics.Track(ln)
	}
	return nil
}

// openUDPRelay opens the relay of a [[udp]] section that has HTTP outputs
// (under data-dir/<name>); nil for a section without any.
func (s *Server) openUDPRelay(uc config.UDPConfig, syncMode wal.SyncMode) (*relay.Relay, error) {
	var httpOuts []config.OutputConfig
	for _, o := range uc.Outputs {
		if o.IsHTTP() {
			httpOuts = append(httpOuts, o)
		}
	}
	if len(httpOuts) == 0 {
		return nil, nil
	}
	return relay.New(relay.Options{
		OpenLog:         jetlog.Engine(s.cfg, thisNode()),
		Name:            uc.Name,
		Dir:             s.cfg.ListenerDir(uc.Name),
		Outputs:         httpOuts,
		Sync:            syncMode,
		SyncInterval:    s.cfg.SyncInterval,
		WriteTimeout:    s.cfg.WriteTimeout,
		DeadLetterAfter: s.cfg.DeadLetterAfter,
		CQBackfill:      s.cfg.CQBackfill,
		Logger:          s.opts.Logger,
		Metrics:         s.relayMetrics,
	})
}

// startUDP starts the relays' delivery, then the listeners.
func (s *Server) startUDP() {
	for _, u := range s.udp {
		if u.relay != nil {
			u.relay.Start()
		}
		u.ln.Start()
		s.logger.Info("listening", "listener", u.cfg.Name, "udp", u.ln.Addr().String(),
			"precision", u.cfg.Precision, "outputs", len(u.cfg.Outputs))
	}
}

// closeUDPListeners stops reading packets and appends what the listeners
// still hold to their relays; closeUDPRelays then drains and closes those.
func (s *Server) closeUDPListeners() {
	for _, u := range s.udp {
		if u.ln != nil {
			if err := u.ln.Close(); err != nil {
				s.logger.Warn("closing UDP listener", "listener", u.cfg.Name, "err", err)
			}
		}
	}
}

func (s *Server) closeUDPRelays(ctx context.Context) {
	for _, u := range s.udp {
		if u.relay == nil {
			continue
		}
		dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		if err := u.relay.Close(dctx); err != nil {
			s.logger.Error("closing relay", "listener", u.cfg.Name, "err", err)
		}
		cancel()
	}
}

// UDPAddrs returns the bound address of every UDP listener, in config
// order.
func (s *Server) UDPAddrs() []string {
	out := make([]string, len(s.udp))
	for i, u := range s.udp {
		out[i] = u.ln.Addr().String()
	}
	return out
}

// UDPListeners returns the UDP listeners, in config order.
func (s *Server) UDPListeners() []*udp.Listener {
	out := make([]*udp.Listener, len(s.udp))
	for i, u := range s.udp {
		out[i] = u.ln
	}
	return out
}

// udpHealth is one UDP listener in /health: what it received and dropped,
// and per output what it forwarded (UDP) or still owes (HTTP).
type udpHealth struct {
	Name      string            `json:"name"`
	Addr      string            `json:"addr"`
	Precision string            `json:"precision"`
	Packets   uint64            `json:"packets"`
	Lines     uint64            `json:"lines"`
	Logged    uint64            `json:"logged_lines,omitempty"`
	Dropped   map[string]uint64 `json:"dropped_lines,omitempty"`
	Outputs   []udpOutputHealth `json:"outputs"`
}

type udpOutputHealth struct {
	Name        string            `json:"name"`
	Location    string            `json:"location"`
	Kind        string            `json:"kind"` // "udp" or "http"
	Lines       uint64            `json:"forwarded_lines,omitempty"`
	Datagrams   uint64            `json:"datagrams,omitempty"`
	Dropped     map[string]uint64 `json:"dropped_lines,omitempty"`
	LastError   string            `json:"last_error,omitempty"`
	State       string            `json:"state,omitempty"`
	BacklogRecs uint64            `json:"backlog_records,omitempty"`
	Delivered   uint64            `json:"delivered_points,omitempty"`
}

func (s *Server) udpHealth() []udpHealth {
	var out []udpHealth
	for _, u := range s.udp {
		st := u.ln.Stats()
		h := udpHealth{Name: st.Name, Addr: st.Addr, Precision: st.Precision, Packets: st.Packets,
			Lines: st.Lines, Logged: st.Logged, Dropped: st.Dropped, Outputs: []udpOutputHealth{}}
		for _, o := range st.Outputs {
			h.Outputs = append(h.Outputs, udpOutputHealth{Name: o.Name, Location: o.Location, Kind: "udp",
				Lines: o.Lines, Datagrams: o.Datagrams, Dropped: o.Dropped, LastError: o.LastError})
		}
		if u.relay != nil {
			for _, b := range u.relay.Stats().Backends {
				h.Outputs = append(h.Outputs, udpOutputHealth{Name: b.Name, Location: b.Location, Kind: "http",
					State: b.State.String(), BacklogRecs: b.Backlog.Records, Delivered: b.Delivered,
					Dropped: b.Dropped, LastError: b.LastError})
			}
		}
		out = append(out, h)
	}
	return out
}
