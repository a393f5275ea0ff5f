package backend

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/influxgate/influxgate/internal/record"
)

// Exec sends a schema-changing query (a KindQuery record) to POST /query
// and classifies the answer: InfluxDB reports a failed statement inside a
// 200 answer, so a result with an "error" counts as a refusal.
//
// The credentials depend on who authorised the statement, as the record
// says durably: with record.FlagGatewayAuthorized (influxgate's gateway
// checked the client's rights) the output's credentials; without it only
// the client's own (rec.Auth), so that an output's credentials never turn
// an anonymous or under-privileged client into an admin — on replay
// either, and for records older than the flag.
func (c *Client) Exec(ctx context.Context, rec *record.Record) Result {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	form, err := url.ParseQuery(rec.Params)
	if err != nil {
		form = url.Values{}
	}
	form.Set("q", string(rec.Body))
	if rec.DB != "" {
		form.Set("db", rec.DB)
	}
	if rec.RP != "" {
		form.Set("rp", rec.RP)
	}
	hdr := make(http.Header)
	params := url.Values{}
	if rec.Flags&record.FlagGatewayAuthorized != 0 {
		c.SetCredentials(hdr, params, rec.Auth)
	} else {
		c.SetClientCredentials(hdr, params, rec.Auth)
	}
	req, err := c.newQueryRequest(ctx, form, hdr, params)
	if err != nil {
		return Classify(0, nil, nil, err)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return Classify(0, nil, nil, err)
	}
	body, cut, rerr := readBounded(resp.Body)
	resp.Body.Close()
	if rerr != nil {
		return Classify(0, nil, nil, rerr)
	}
	if cut && resp.StatusCode/100 != 2 {
		body = closeCutError(body)
	}
	res := Classify(resp.StatusCode, body, resp.Header, nil)
	if res.Class == Accepted && statementFailed(body) {
		res.Class, res.Reason = Rejected, "statement_error"
	}
	if res.Class == Rejected && res.Status == http.StatusBadRequest && strings.Contains(res.Message(), "error parsing query") {
		res.Reason = "parse_error"
	}
	return res
}

// newQueryRequest builds POST /query with form as its body. hdr and params
// (the URL's query) carry the credentials SetCredentials or
// SetClientCredentials put there, and nothing else does.
func (c *Client) newQueryRequest(ctx context.Context, form url.Values, hdr http.Header, params url.Values) (*http.Request, error) {
	u := c.baseURL
	u.User = nil // Go's client would send it as Basic auth; hdr and params decide
	u.Path += "/query"
	u.RawQuery = params.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header = hdr
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", "influxgate")
	return req, nil
}

// statementFailed reports whether a /query answer carries an error, at the
// top or in any statement's result.
func statementFailed(body []byte) bool {
	var r struct {
		Error   string `json:"error"`
		Results []struct {
			Error string `json:"error"`
		} `json:"results"`
	}
	if json.Unmarshal(body, &r) != nil {
		return false
	}
	if r.Error != "" {
		return true
	}
	for _, s := range r.Results {
		if s.Error != "" {
			return true
		}
	}
	return false
}

// SetCredentials puts the credentials for this backend on a write (or a
// statement the gateway authorised) whose URL query parameters are params
// (InfluxDB reads u and p from the URL only): the output's own when
// configured — a token as "Token", a 1.x user (username/password, or the
// user in the location's URL) as Basic auth so the password stays out of
// URLs — else the client's, as the client sent them (pass-through). The
// output's credentials serve writes and replays; reads and pass-through
// statements use SetClientCredentials.
func (c *Client) SetCredentials(hdr http.Header, params url.Values, client record.Auth) {
	user, pass := c.creds.Username, c.creds.Password
	if user == "" && c.writeURL.User != nil {
		user = c.writeURL.User.Username()
		pass, _ = c.writeURL.User.Password()
	}
	switch {
	case c.creds.Token != "":
		clearCredentials(hdr, params)
		hdr.Set("Authorization", "Token "+c.creds.Token)
	case user != "" && c.api == APIv2:
		clearCredentials(hdr, params)
		hdr.Set("Authorization", "Token "+user+":"+pass)
	case user != "":
		clearCredentials(hdr, params)
		hdr.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(user+":"+pass)))
	default:
		c.SetClientCredentials(hdr, params, client)
	}
}

// SetClientCredentials puts only the client's own credentials, as it sent
// them, on a request for this backend: reads, and statements influxgate
// did not authorise itself (pass-through mode). The output's credentials
// are never used, so the backend judges the client by its own proof (the
// caller must also drop any user from the request URL, which Go's client
// would otherwise send as Basic auth).
func (c *Client) SetClientCredentials(hdr http.Header, params url.Values, client record.Auth) {
	clearCredentials(hdr, params)
	if client.Header != "" {
		hdr.Set("Authorization", client.Header)
	}
	if client.Username != "" || client.Password != "" {
		params.Set("u", client.Username)
		params.Set("p", client.Password)
	}
}

func clearCredentials(hdr http.Header, params url.Values) {
	params.Del("u")
	params.Del("p")
	hdr.Del("Authorization")
}
