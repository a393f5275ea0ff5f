package replica

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/influxgate/influxgate/internal/backend"
	"github.com/influxgate/influxgate/internal/config"
	"github.com/influxgate/influxgate/internal/influxerr"
)

// Backend is one InfluxDB server of a listener, reached directly (never
// through influxgate) with the output's own credentials: InfluxQL through
// /query at the location's base URL, line protocol through the output's
// write URL. Its methods may be called from several goroutines; at most
// Concurrency requests are in flight at once.
type Backend struct {
	// Name is the output's name in the config.
	Name string
	// BaseURL is the location without its /write or /api/v2/write path.
	BaseURL string

	writeURL       *url.URL
	v2             bool // the location is an /api/v2/write URL
	user, password string
	token, org     string
	client         *http.Client
	sem            chan struct{}
	queryTimeout   time.Duration
	writeTimeout   time.Duration
	attempts       int
	backoff        time.Duration
}

// BackendOptions tune the requests a Backend makes.
type BackendOptions struct {
	// Concurrency bounds the requests in flight to this backend (default 2).
	Concurrency int
	// QueryTimeout bounds one query, including the streaming of its answer
	// (default 5m; a query reads at most one window of buckets).
	QueryTimeout time.Duration
	// Attempts is how often a request that failed transiently (no answer,
	// 5xx, 429) is tried in all (default 3).
	Attempts int
	// Backoff is the wait before the first retry; it doubles for each
	// further one (default 500ms).
	Backoff time.Duration
}

// NewBackend prepares requests to the backend of an [[http]] output. The
// output's timeout bounds each write request.
func NewBackend(o config.OutputConfig, opts BackendOptions) (*Backend, error) {
	if opts.Concurrency <= 0 {
		opts.Concurrency = 2
	}
	if opts.QueryTimeout <= 0 {
		opts.QueryTimeout = 5 * time.Minute
	}
	if opts.Attempts <= 0 {
		opts.Attempts = 3
	}
	if opts.Backoff <= 0 {
		opts.Backoff = 500 * time.Millisecond
	}
	loc, err := url.Parse(o.Location)
	if err != nil || loc.Host == "" || (loc.Scheme != "http" && loc.Scheme != "https") {
		return nil, fmt.Errorf("output %q: location %q is not an http(s) URL", o.Name, o.Location)
	}
	base := *loc
	base.RawQuery, base.Fragment, base.User = "", "", nil
	v2 := false
	switch p := strings.TrimRight(base.Path, "/"); {
	case strings.HasSuffix(p, "/api/v2/write"):
		base.Path, v2 = strings.TrimSuffix(p, "/api/v2/write"), true
	case strings.HasSuffix(p, "/write"):
		base.Path = strings.TrimSuffix(p, "/write")
	default:
		return nil, fmt.Errorf("output %q: location %q ends neither in /write nor in /api/v2/write", o.Name, o.Location)
	}
	tlsConf, err := backend.TLSConfig(o)
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsConf
	tr.MaxIdleConnsPerHost = opts.Concurrency
	wt := o.Timeout
	if wt <= 0 {
		wt = 10 * time.Second
	}
	return &Backend{
		Name:         o.Name,
		BaseURL:      strings.TrimRight(base.String(), "/"),
		writeURL:     loc,
		v2:           v2,
		user:         o.Username,
		password:     o.Password,
		token:        o.Token,
		org:          o.Org,
		client:       &http.Client{Transport: tr},
		sem:          make(chan struct{}, opts.Concurrency),
		queryTimeout: opts.QueryTimeout,
		writeTimeout: wt,
		attempts:     opts.Attempts,
		backoff:      opts.Backoff,
	}, nil
}

// String names the backend and its address for messages.
func (b *Backend) String() string { return fmt.Sprintf("%s (%s)", b.Name, b.BaseURL) }

// Close releases idle connections.
func (b *Backend) Close() { b.client.CloseIdleConnections() }

// Error is a request to a backend that failed: no answer, an HTTP error, or
// an error in InfluxDB's answer.
type Error struct {
	Backend string // the backend's String()
	Op      string // what was asked, e.g. `query "SHOW DATABASES"`
	Status  int    // HTTP status; 0 when there was no answer
	Err     error
	// Transient says whether trying again may help (no answer, 5xx, 429).
	Transient bool
}

// Error names the backend, the request and what went wrong.
func (e *Error) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("backend %s: %s: HTTP %d: %v", e.Backend, e.Op, e.Status, e.Err)
	}
	return fmt.Sprintf("backend %s: %s: %v", e.Backend, e.Op, e.Err)
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// result is one statement's answer in InfluxDB's JSON.
type result struct {
	StatementID int      `json:"statement_id"`
	Series      []series `json:"series"`
	Error       string   `json:"error"`
}

// series is one series of a result. Values hold what encoding/json decodes
// with UseNumber: json.Number (integers and nanosecond times stay exact),
// string, bool and nil.
type series struct {
	Name    string            `json:"name"`
	Tags    map[string]string `json:"tags"`
	Columns []string          `json:"columns"`
	Values  [][]any           `json:"values"`
}

type answer struct {
	Results []result `json:"results"`
	Error   string   `json:"error"`
}

// query runs one InfluxQL statement and returns its result; a statement
// error comes back in result.Error for the caller to judge (a missing
// database is often not a failure).
func (b *Backend) query(ctx context.Context, db, q string) (result, error) {
	var res result
	err := b.do(ctx, b.queryTimeout, "query "+clip(q), func(ctx context.Context) (*http.Request, error) {
		return b.queryRequest(ctx, db, q, 0)
	}, func(body io.Reader) error {
		data, err := io.ReadAll(body)
		if err != nil {
			return fmt.Errorf("read answer: %w", err)
		}
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		var a answer
		if err := dec.Decode(&a); err != nil {
			// A complete answer that is not JSON: InfluxDB answers 200
			// with its encoder's error when a value (a float sum that
			// overflowed to +Inf) cannot be written as JSON.
			return answerError(fmt.Sprintf("unreadable answer: %v: %s", err, clip(string(data))))
		}
		if a.Error != "" {
			return answerError(a.Error)
		}
		if len(a.Results) != 1 {
			return answerError(fmt.Sprintf("want one result, have %d", len(a.Results)))
		}
		res = a.Results[0]
		return nil
	})
	return res, err
}

// exec runs a statement that must succeed (CREATE, ALTER).
func (b *Backend) exec(ctx context.Context, q string) error {
	res, err := b.query(ctx, "", q)
	if err == nil && res.Error != "" {
		err = &Error{Backend: b.String(), Op: "query " + clip(q), Err: errors.New(res.Error)}
	}
	return err
}

// queryChunked runs one SELECT with a chunked answer and hands each series
// chunk to fn as it arrives, so a bucket of any size streams through
// bounded memory. A failure part-way is returned; the caller retries the
// whole statement (writing its rows again is harmless).
func (b *Backend) queryChunked(ctx context.Context, db, q string, chunkSize int, fn func(series) error) error {
	// The time fn spends (writing, waiting for the rate limiter) must not
	// count against the query: a watchdog bounds each wait for the server
	// instead of the whole stream.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var stalled atomic.Bool
	watch := time.AfterFunc(time.Hour, func() { stalled.Store(true); cancel() })
	defer watch.Stop()
	op := "query " + clip(q)
	err := b.do(ctx, 0, op, func(ctx context.Context) (*http.Request, error) {
		watch.Reset(b.queryTimeout)
		return b.queryRequest(ctx, db, q, chunkSize)
	}, func(body io.Reader) error {
		dec := json.NewDecoder(body)
		dec.UseNumber()
		for {
			var a answer
			watch.Reset(b.queryTimeout)
			err := dec.Decode(&a)
			watch.Stop()
			if errors.Is(err, io.EOF) {
				return nil
			} else if err != nil {
				return fmt.Errorf("decode answer: %w", err)
			}
			if a.Error != "" {
				return answerError(a.Error)
			}
			for _, r := range a.Results {
				if r.Error != "" {
					return answerError(r.Error)
				}
				for _, s := range r.Series {
					if err := fn(s); err != nil {
						return errStop{err}
					}
				}
			}
		}
	})
	if err != nil && stalled.Load() {
		return &Error{Backend: b.String(), Op: op, Err: fmt.Errorf("no answer within %v", b.queryTimeout), Transient: true}
	}
	return err
}

// errStop carries an error of the caller's callback through do, which
// must neither retry it nor dress it as a backend error.
type errStop struct{ err error }

func (e errStop) Error() string { return e.err.Error() }

func (b *Backend) queryRequest(ctx context.Context, db, q string, chunkSize int) (*http.Request, error) {
	form := url.Values{"q": {q}, "epoch": {"ns"}}
	if db != "" {
		form.Set("db", db)
	}
	if chunkSize > 0 {
		form.Set("chunked", "true")
		form.Set("chunk_size", fmt.Sprint(chunkSize))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.BaseURL+"/query", strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	b.authorize(req)
	return req, nil
}

// write posts line protocol with nanosecond timestamps into db and rp.
func (b *Backend) write(ctx context.Context, db, rp string, body []byte) error {
	return b.do(ctx, b.writeTimeout, fmt.Sprintf("write to %s.%s", db, rp), func(ctx context.Context) (*http.Request, error) {
		u := *b.writeURL
		v := u.Query()
		if b.v2 {
			v.Set("bucket", db+"/"+rp)
			v.Set("precision", "ns")
			if b.org != "" {
				v.Set("org", b.org)
			}
		} else {
			v.Set("db", db)
			v.Set("rp", rp)
			v.Set("precision", "n")
		}
		u.RawQuery = v.Encode()
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "text/plain; charset=utf-8")
		b.authorize(req)
		return req, nil
	}, nil)
}

func (b *Backend) authorize(req *http.Request) {
	switch {
	case b.user != "":
		req.SetBasicAuth(b.user, b.password)
	case b.token != "":
		req.Header.Set("Authorization", "Token "+b.token)
	}
}

// do sends the request built by build, reads a 2xx answer with read (nil:
// discard it) and retries transient failures with a doubling backoff. Each
// attempt holds one of the backend's concurrency slots and is bounded by
// timeout (0: by ctx only).
func (b *Backend) do(ctx context.Context, timeout time.Duration, op string,
	build func(context.Context) (*http.Request, error), read func(io.Reader) error) error {
	wait := b.backoff
	for attempt := 1; ; attempt++ {
		err := b.once(ctx, timeout, op, build, read)
		var stop errStop
		if errors.As(err, &stop) {
			return stop.err
		}
		var be *Error
		if err == nil || ctx.Err() != nil || !errors.As(err, &be) || !be.Transient || attempt >= b.attempts {
			if err != nil && ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait *= 2
	}
}

func (b *Backend) once(ctx context.Context, timeout time.Duration, op string,
	build func(context.Context) (*http.Request, error), read func(io.Reader) error) error {
	select {
	case b.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-b.sem }()
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	req, err := build(ctx)
	if err != nil {
		return err
	}
	resp, err := b.client.Do(req)
	if err != nil {
		return &Error{Backend: b.String(), Op: op, Err: unwrapURLError(err), Transient: true}
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return &Error{Backend: b.String(), Op: op, Status: resp.StatusCode, Err: errors.New(influxMessage(msg)),
			Transient: resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests}
	}
	if read == nil {
		_, err = io.Copy(io.Discard, resp.Body)
	} else {
		err = read(resp.Body)
	}
	if err != nil {
		var stop errStop
		if errors.As(err, &stop) {
			return err
		}
		// A stream cut short may succeed on a second try; an error that
		// InfluxDB put in its answer will not.
		var ae answerError
		return &Error{Backend: b.String(), Op: op, Status: resp.StatusCode, Err: err, Transient: !errors.As(err, &ae)}
	}
	return nil
}

// answerError is an error InfluxDB reported in its answer.
type answerError string

func (e answerError) Error() string { return string(e) }

// unwrapURLError drops net/http's "Post URL:" prefix: the message already
// names the backend.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// influxMessage is the error text of an InfluxDB answer body.
func influxMessage(body []byte) string {
	if s := influxerr.Text(body); s != "" {
		return s
	}
	return "(empty answer)"
}

// clip shortens a statement for messages.
func clip(s string) string {
	const max = 160
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}
