package ingest

import (
	"unsafe"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/prometheus/prometheus/prompb"
)

// promShape counts the messages of a remote-write request in its wire
// form, before it is decoded, so that the memory of its decoded form can be
// reserved from the write memory budget first: a label of a few bytes on
// the wire becomes a struct of several dozen, so the decoded size cannot be
// told from the body's length alone.
type promShape struct {
	series, labels, samples, metadata int
	// other is the wire bytes of exemplars and native histograms, which
	// are decoded (and then ignored, as InfluxDB ignores them).
	other int
}

// measureWriteRequest walks the two outer levels of a WriteRequest
// (timeseries and metadata; labels, samples, exemplars and histograms of
// each series). On a malformed body it returns what it counted before the
// fault: the decoder allocates no more than that before it fails.
func measureWriteRequest(b []byte) promShape {
	var s promShape
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return s
		}
		b = b[n:]
		if typ != protowire.BytesType {
			if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
				return s
			}
			b = b[n:]
			continue
		}
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return s
		}
		b = b[n:]
		switch num {
		case 1:
			s.series++
			if !s.measureSeries(v) {
				return s
			}
		case 3:
			s.metadata++
			s.other += len(v)
		}
	}
	return s
}

func (s *promShape) measureSeries(b []byte) bool {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return false
		}
		b = b[n:]
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return false
		}
		if typ == protowire.BytesType {
			switch num {
			case 1:
				s.labels++
			case 2:
				s.samples++
			default:
				s.other += n
			}
		}
		b = b[n:]
	}
	return true
}

// decodedSize estimates the memory a decoded request of this shape holds
// besides its strings (at most the wire length, reserved apart): the
// structs, twice over for the slices that grow by doubling as the decoder
// appends, and generously for exemplars and histograms.
func (s promShape) decodedSize() int64 {
	structs := int64(s.series)*int64(unsafe.Sizeof(prompb.TimeSeries{})) +
		int64(s.labels)*int64(unsafe.Sizeof(prompb.Label{})) +
		int64(s.samples)*int64(unsafe.Sizeof(prompb.Sample{})) +
		int64(s.metadata)*int64(unsafe.Sizeof(prompb.MetricMetadata{}))
	return 2*structs + 8*int64(s.other)
}
