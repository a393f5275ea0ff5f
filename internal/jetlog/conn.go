package jetlog

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/influxgate/influxgate/internal/config"
	"github.com/influxgate/influxgate/internal/relay"
)

// opTimeout bounds one request to JetStream (an append, a cursor store, a
// lease renewal). A cluster that lost its stream leader elects another in
// a few seconds; the callers retry.
const opTimeout = 5 * time.Second

// Conn is one connection to NATS, its JetStream context and the
// key-value buckets every relay of the process uses (cursors, leases, and,
// once needed, the backends' other delivery state).
type Conn struct {
	nc      *nats.Conn
	js      jetstream.JetStream
	cursors jetstream.KeyValue
	leases  jetstream.KeyValue
	cfg     config.LogStoreConfig
	node    string
	logger  *slog.Logger

	// The state bucket and the dead-letter stream, bound when first used
	// and created when first written (stateBucket, deadLetterStream).
	state lazyAsset[jetstream.KeyValue]
	dead  lazyAsset[jetstream.Stream]
	// The sharding state, created when first written (shardstate.go).
	shards lazyAsset[jetstream.KeyValue]
	moves  lazyAsset[jetstream.Stream]
}

// lazyAsset is a stream or key-value bucket bound on first use and created
// by the first write: an asset nobody writes costs the servers nothing and
// holds no election when a NATS server is lost.
type lazyAsset[T comparable] struct {
	mu sync.Mutex
	v  T
}

// get returns the asset: bound with bind, or when create made with build.
// It returns the zero T and no error when the asset does not exist yet
// (bind fails with missing) and create is false.
func (a *lazyAsset[T]) get(create bool, bind func(context.Context) (T, error), missing error, build func() (T, error)) (T, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var zero T
	if a.v != zero {
		return a.v, nil
	}
	var v T
	var err error
	if create {
		v, err = build()
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		v, err = bind(ctx)
		cancel()
		if errors.Is(err, missing) {
			return zero, nil
		}
	}
	if err != nil {
		return zero, err
	}
	a.v = v
	return v, nil
}

// stateBucket is the bucket of the backends' other delivery state
// (cursors.go); most deployments never mark a backend diverged or leave a
// backfill pending. nil, nil: there is none yet.
func (c *Conn) stateBucket(create bool) (jetstream.KeyValue, error) {
	return c.lazyBucket(&c.state, create, "_state",
		"influxgate: each backend's divergence mark and pending continuous-query backfill")
}

// lazyBucket is the key-value bucket <prefix><suffix> held in a, bound or
// (when create) made with one value per key, replicated like the logs.
func (c *Conn) lazyBucket(a *lazyAsset[jetstream.KeyValue], create bool, suffix, description string) (jetstream.KeyValue, error) {
	name := c.cfg.StreamPrefix + suffix
	return a.get(create,
		func(ctx context.Context) (jetstream.KeyValue, error) { return c.js.KeyValue(ctx, name) },
		jetstream.ErrBucketNotFound,
		func() (jetstream.KeyValue, error) {
			return c.bucket(jetstream.KeyValueConfig{
				Bucket: name, History: 1, Replicas: c.cfg.StreamReplicas, Storage: jetstream.FileStorage,
				Description: description})
		})
}

// lazyStream is the stream <prefix><suffix> of the subjects
// <prefix>.<token>.> held in a, bound or (when create) made without
// limits, replicated like the logs.
func (c *Conn) lazyStream(a *lazyAsset[jetstream.Stream], create bool, suffix, token, description string) (jetstream.Stream, error) {
	name := c.cfg.StreamPrefix + suffix
	return a.get(create,
		func(ctx context.Context) (jetstream.Stream, error) { return c.js.Stream(ctx, name) },
		jetstream.ErrStreamNotFound,
		func() (jetstream.Stream, error) {
			return c.stream(jetstream.StreamConfig{
				Name:        name,
				Description: description,
				Subjects:    []string{c.cfg.StreamPrefix + "." + token + ".>"},
				Storage:     jetstream.FileStorage,
				Replicas:    c.cfg.StreamReplicas,
				Retention:   jetstream.LimitsPolicy,
			})
		})
}

// NodeName names this process among the nodes sharing the log: the host
// name (a pod's name in Kubernetes) and a random suffix, so that a
// restarted process never mistakes an old claim for its own.
func NodeName() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "influxgate"
	}
	var b [3]byte
	_, _ = rand.Read(b[:])
	return host + "-" + hex.EncodeToString(b[:])
}

// Connect connects to the NATS servers of cfg and makes sure the cursor
// and lease buckets exist.
func Connect(cfg config.LogStoreConfig, node string, logger *slog.Logger) (*Conn, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("component", "jetlog")
	opts := []nats.Option{
		nats.Name("influxgate " + node),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.Timeout(opTimeout),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				logger.Warn("disconnected from NATS; reconnecting", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			logger.Info("reconnected to NATS", "server", nc.ConnectedUrlRedacted())
		}),
	}
	switch {
	case cfg.Credentials != "":
		opts = append(opts, nats.UserCredentials(cfg.Credentials))
	case cfg.Token != "":
		opts = append(opts, nats.Token(cfg.Token))
	case cfg.Username != "":
		opts = append(opts, nats.UserInfo(cfg.Username, cfg.Password))
	}
	if cfg.TLSCert != "" {
		opts = append(opts, nats.ClientCert(cfg.TLSCert, cfg.TLSKey))
	}
	if cfg.CAFile != "" {
		opts = append(opts, nats.RootCAs(cfg.CAFile))
	}
	if cfg.TLS() {
		opts = append(opts, nats.Secure())
	}
	nc, err := nats.Connect(strings.Join(cfg.URLs, ","), opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS %v: %w", redactedURLs(cfg.URLs), err)
	}
	c := &Conn{nc: nc, cfg: cfg, node: node, logger: logger}
	if c.js, err = jetstream.New(nc); err != nil {
		nc.Close()
		return nil, err
	}
	c.cursors, err = c.bucket(jetstream.KeyValueConfig{
		Bucket: cfg.StreamPrefix + "_cursors", History: 1, Replicas: cfg.StreamReplicas,
		Storage:     jetstream.FileStorage,
		Description: "influxgate: each backend's position in its write log"})
	if err == nil {
		// The lease of a node that dies expires ttl after its last renewal.
		c.leases, err = c.bucket(jetstream.KeyValueConfig{
			Bucket: cfg.StreamPrefix + "_leases", History: 1, Replicas: cfg.StreamReplicas,
			TTL: cfg.LeaseTTL, Storage: jetstream.FileStorage,
			Description: "influxgate: which node delivers to each backend"})
	}
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("open the cursor and lease buckets: %w", err)
	}
	return c, nil
}

// startBudget bounds how long opening a bucket or a stream is tried: a
// node that starts while the NATS cluster elects a new meta leader (a
// server was just lost) waits for it rather than fail.
const startBudget = 45 * time.Second

// retry runs op until it succeeds or startBudget passes.
func retry(what string, op func(ctx context.Context) error) error {
	err := retryFor(startBudget, 250*time.Millisecond, func(error) bool { return true }, op)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// retryFor runs op with a fresh opTimeout context, pausing between tries,
// until it succeeds, fails with an error again does not take, or budget
// passes; it returns op's last error.
func retryFor(budget, pause time.Duration, again func(error) bool, op func(ctx context.Context) error) error {
	deadline := time.Now().Add(budget)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		err := op(ctx)
		cancel()
		if err == nil || !again(err) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(pause)
	}
}

// bucket binds to a key-value bucket, creating it (or updating its
// settings) only when it is missing or differs: binding needs only the
// bucket's own stream leader, creating needs the cluster's meta leader.
func (c *Conn) bucket(cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	var kv jetstream.KeyValue
	err := retry("bucket "+cfg.Bucket, func(ctx context.Context) error {
		b, err := c.js.KeyValue(ctx, cfg.Bucket)
		if err == nil {
			st, serr := b.Status(ctx)
			if serr == nil && st.TTL() == cfg.TTL && int(st.(*jetstream.KeyValueBucketStatus).StreamInfo().Config.Replicas) == cfg.Replicas {
				kv = b
				return nil
			}
		} else if !errors.Is(err, jetstream.ErrBucketNotFound) {
			return err
		}
		kv, err = c.js.CreateOrUpdateKeyValue(ctx, cfg)
		return err
	})
	return kv, err
}

// stream binds to the stream want names, creating or updating it only
// when it is missing or has other replicas: binding needs only the
// stream's own leader, creating needs the cluster's meta leader. It is
// tried for startBudget, like the buckets.
func (c *Conn) stream(want jetstream.StreamConfig) (jetstream.Stream, error) {
	var st jetstream.Stream
	err := retry("stream "+want.Name, func(ctx context.Context) error {
		s, err := c.js.Stream(ctx, want.Name)
		if err == nil && s.CachedInfo().Config.Replicas == want.Replicas {
			st = s
			return nil
		}
		if err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
			return err
		}
		st, err = c.js.CreateOrUpdateStream(ctx, want)
		return err
	})
	return st, err
}

// Close closes the connection (after every Log on it is closed).
func (c *Conn) Close() {
	_ = c.nc.Drain()
}

// Node is this node's name.
func (c *Conn) Node() string { return c.node }

// escape makes a name (a listener, shard or output name: output names are
// host:port by default) usable in a stream name, a subject token and a
// key-value key: letters, digits, '-' and '_' stay, any other byte becomes
// '=' and two hex digits.
func escape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "=%02X", c)
	}
	return b.String()
}

func unescape(s string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '=' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", false
		}
		v, err := hex.DecodeString(s[i+1 : i+3])
		if err != nil {
			return "", false
		}
		b.WriteByte(v[0])
		i += 2
	}
	return b.String(), true
}

// Config is what OpenFunc needs: the [log-store] table and this node's
// name (NodeName).
type Config struct {
	Store config.LogStoreConfig
	Node  string
	// MaxBodySize is the config's max-body-size: a start-up warning says
	// when the servers' max_payload cannot carry a write that large.
	MaxBodySize int64
}

// Engine returns the relay.OpenLogFunc the config's [log-store] asks for:
// nil (the local log) for engine = "local", the JetStream log otherwise.
// Every place that opens a relay (listeners, UDP, the dead-letter command)
// uses it, so that none writes to a log the others do not read.
func Engine(cfg *config.Config, node string) relay.OpenLogFunc {
	if !cfg.LogStore.NATS() {
		return nil
	}
	return OpenFunc(Config{Store: cfg.LogStore, Node: node, MaxBodySize: cfg.MaxBodySize})
}

// redactedURLs returns urls with any password in them hidden (G7: no log
// line shows a secret).
func redactedURLs(urls []string) []string {
	out := make([]string, len(urls))
	for i, s := range urls {
		if u, err := url.Parse(s); err == nil {
			out[i] = u.Redacted()
		} else {
			out[i] = "(unparsable URL)"
		}
	}
	return out
}

// noRespondersWait bounds how long answered retries.
const noRespondersWait = 10 * time.Second

// answered runs op with a fresh opTimeout context, and again for up to
// noRespondersWait while it fails with "no responders". A direct get (a
// key-value read, a stream's last message) made right after its bucket or
// stream was created or bound (perhaps by another node, perhaps while its
// leader moves) can find no replica serving it yet: a node that starts
// then must wait for one, not fail its start.
func answered(op func(ctx context.Context) error) error {
	noResponders := func(err error) bool { return errors.Is(err, nats.ErrNoResponders) }
	return retryFor(noRespondersWait, 100*time.Millisecond, noResponders, op)
}

// lastMsg returns the stream's last message on subject (see answered).
func lastMsg(st jetstream.Stream, subject string) (m *jetstream.RawStreamMsg, err error) {
	err = answered(func(ctx context.Context) error {
		m, err = st.GetLastMsgForSubject(ctx, subject)
		return err
	})
	return m, err
}

// kvGet reads key from kv (see answered).
func kvGet(kv jetstream.KeyValue, key string) (e jetstream.KeyValueEntry, err error) {
	err = answered(func(ctx context.Context) error {
		e, err = kv.Get(ctx, key)
		return err
	})
	return e, err
}
