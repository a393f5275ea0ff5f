package status

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"

	_ "embed"
)

//go:embed page.html
var pageHTML []byte

// pageCSP allows the page's own inline script and style, by hash and
// 'unsafe-inline' respectively, and fetches from its own origin only: the
// page loads nothing from elsewhere, and an injected script would not run.
var pageCSP = "default-src 'none'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'; script-src 'sha256-" + scriptHash(pageHTML) + "'"

// scriptHash is the CSP hash of the one inline <script> of page.
func scriptHash(page []byte) string {
	_, rest, ok := bytes.Cut(page, []byte("<script>"))
	body, _, ok2 := bytes.Cut(rest, []byte("</script>"))
	if !ok || !ok2 {
		panic("status: page.html has no <script> element") // a broken embed, caught by any test
	}
	sum := sha256.Sum256(body)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// Register adds the page's routes to mux: GET / (exactly "/", so that the
// page shadows no other path), GET /status and GET /status.json.
func (p *Page) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", p.serveHTML)
	mux.HandleFunc("GET /status", p.serveHTML)
	mux.HandleFunc("GET /status.json", p.serveJSON)
}

func (p *Page) serveHTML(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-cache")
	_, _ = w.Write(pageHTML)
}

func (p *Page) serveJSON(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	_ = json.NewEncoder(w).Encode(p.Snapshot())
}
