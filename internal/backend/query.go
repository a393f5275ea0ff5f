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
	c.SetCredentials(hdr, params, rec.Auth)
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
// (the URL's query) carry the credentials SetCredentials put there.
func (c *Client) newQueryRequest(ctx context.Context, form url.Values, hdr http.Header, params url.Values) (*http.Request, error) {
	u := c.baseURL
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

// SetCredentials puts the credentials for this backend on a request whose
// URL query parameters are params (InfluxDB reads u and p from the URL
// only): the backend's own when configured — a token as "Token", a 1.x
// user as Basic auth so the password stays out of URLs — else the
// client's, as the client sent them (pass-through).
func (c *Client) SetCredentials(hdr http.Header, params url.Values, client record.Auth) {
	params.Del("u")
	params.Del("p")
	hdr.Del("Authorization")
	switch {
	case c.creds.Token != "":
		hdr.Set("Authorization", "Token "+c.creds.Token)
	case c.creds.Username != "" && c.api == APIv2:
		hdr.Set("Authorization", "Token "+c.creds.Username+":"+c.creds.Password)
	case c.creds.Username != "":
		hdr.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(c.creds.Username+":"+c.creds.Password)))
	default:
		if client.Header != "" {
			hdr.Set("Authorization", client.Header)
		}
		if client.Username != "" || client.Password != "" {
			params.Set("u", client.Username)
			params.Set("p", client.Password)
		}
	}
}
