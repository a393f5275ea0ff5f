package ingest

import (
	"bytes"
	stdgzip "compress/gzip"
	"errors"
	"io"
	"net/http"
	"testing"
)

// The inflater is klauspost/compress's, InfluxDB's is the standard
// library's: a bad gzip body must get the text influxd would give. The
// bodies go through one handler in turn, so pooled readers are reused
// after each kind of failure, and the good bodies between them must still
// arrive whole.
func TestGzipErrorsReadAsTheStandardLibrarys(t *testing.T) {
	good := func(lines string) []byte {
		var b bytes.Buffer
		zw := stdgzip.NewWriter(&b)
		zw.Write([]byte(lines))
		zw.Close()
		return b.Bytes()
	}
	valid := good("cpu v=1 1\ncpu v=2 2\n")
	badCRC := bytes.Clone(valid)
	badCRC[len(badCRC)-8] ^= 0xff
	badData := bytes.Clone(valid)
	badData[10] = 0x07 // a block of the reserved type 3
	bodies := []struct {
		name string
		body []byte
	}{
		{"empty", nil},
		{"not gzip", []byte("cpu v=1 1\n")},
		{"header cut", valid[:5]},
		{"stream cut", valid[:len(valid)/2]},
		{"trailer cut", valid[:len(valid)-3]},
		{"bad checksum", badCRC},
		{"bad deflate", badData},
		{"garbage after", append(bytes.Clone(valid), "garbage"...)},
	}
	w := &acceptingWriter{}
	h := New(w, Options{MaxBodySize: 1 << 20})
	for _, c := range bodies {
		want := stdlibGzipError(c.body)
		if want == "" {
			t.Fatalf("%s: the standard library reads it", c.name)
		}
		rr := post(h.ServeV1, "/write?db=db", c.body, "Content-Encoding", "gzip")
		if rr.Code != http.StatusBadRequest || errorText(t, rr) != want {
			t.Errorf("%s: %d %q, want 400 %q", c.name, rr.Code, rr.Body.Bytes(), want)
		}
		n := len(w.recs)
		if rr := post(h.ServeV1, "/write?db=db", valid, "Content-Encoding", "gzip"); rr.Code != http.StatusNoContent ||
			len(w.recs) != n+1 || string(w.recs[n].Body) != "cpu v=1 1\ncpu v=2 2\n" {
			t.Fatalf("good body after %s: %d %q", c.name, rr.Code, rr.Body.Bytes())
		}
	}
}

// stdlibGzipError is the error compress/gzip gives reading body whole,
// with io.EOF from an empty body read as readBody words it.
func stdlibGzipError(body []byte) string {
	zr, err := stdgzip.NewReader(bytes.NewReader(body))
	if err == nil {
		_, err = io.ReadAll(zr)
	}
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	if err == nil {
		return ""
	}
	return err.Error()
}
