// Package lineproto scans InfluxDB line protocol on the write hot path:
// it finds line boundaries, counts points, stamps lines that lack a
// timestamp, rescales timestamps between precisions, checks lines the way
// InfluxDB's parser does, and packs lines into UDP datagrams.
//
// # Why it is hand-written
//
// Every write passes through this package, so it works on []byte in a single
// pass, appends to a buffer the caller owns and allocates nothing per line.
// The line-protocol libraries for Go (InfluxDB's own models package, the
// line-protocol encoders and decoders) parse each line into a point and
// re-serialize it. That costs allocations and, worse, does not keep the bytes
// the client sent: re-serialization reorders tags and rewrites numbers and
// escapes. influxgate must deliver to every backend exactly what the client
// sent, plus a timestamp where one was missing, so it edits the bytes in
// place instead. The scanner mirrors the line splitting and section
// boundaries of the parser in InfluxDB 1.x (models.ParsePointsWithPrecision);
// the tests check it against a real influxd.
//
// # Lines
//
// A body is split into lines at each '\n' that is not inside a quoted string
// field value and not escaped by a backslash, exactly as InfluxDB 1.x does:
// a string field may contain raw newlines. A line is not a point when it is
// empty, holds only whitespace (space, tab, NUL), or its first
// non-whitespace byte is '#' (a comment). Every other line is a point line,
// whether or not it is well formed. '\r' is an ordinary byte: a CRLF body
// keeps its '\r' bytes, which InfluxDB rejects ("bad timestamp" after a
// timestamp, "invalid number" after a number); lineproto neither strips nor
// adds them, so such a body stays exactly as rejected as it was.
//
// A point line has three sections: the key (measurement and tags, ending at
// the first space not preceded by a backslash), the field set (after any
// whitespace; ending at the first unquoted, unescaped space), and the
// optional timestamp (the next token after more whitespace).
//
// # Stamping rules
//
// Stamp appends " <ts>" (one space, then the decimal timestamp) to the end of
// a point line, before its terminating '\n', when all of these hold:
//   - the line has a non-empty field set after its key;
//   - nothing but whitespace (space, tab, NUL) follows the field set, so the
//     line has no timestamp section;
//   - the field set does not end inside an open quoted string;
//   - the line does not end with an odd number of backslashes (the last one
//     would escape the added space).
//
// The last rule leaves one kind of line that InfluxDB accepts without a
// timestamp: a string field followed by stray bytes that end in a lone
// backslash (`m s="x"\`, stored as the string `x"`). No bytes can be added
// after it without changing that value, so Stamp leaves it alone and counts
// it in Stats.Unstampable for the caller to decide. A second kind is
// counted there too: a line whose field set is followed by a '\n' that the
// line itself holds (InfluxDB's line splitter took it for quoted, as in
// ` =" f="" \n0`). InfluxDB reads no timestamp at that '\n' and ignores
// what follows, and a stamp before it makes the point invalid.
//
// Trailing whitespace is kept as it is: "m f=1 " becomes "m f=1  <ts>",
// which InfluxDB parses with timestamp <ts> (its parser skips any run of
// whitespace before the timestamp). Lines that already have a timestamp
// section are never changed, even when that timestamp is malformed; neither
// are non-point lines and malformed lines that the rules above exclude, so
// the backends report them as they would have. Stamping never turns a line
// InfluxDB rejects into one it accepts, or the reverse.
//
// A final line without a terminating '\n' is stamped in place and still has
// no '\n' afterwards; Stamp and Rescale never add or remove newlines. One
// corner: when a body ends inside what InfluxDB's line splitter takes for a
// quoted string, the last line's own bytes may end in '\n', which InfluxDB
// strips before parsing; the stamp goes before that '\n'. All other bytes are
// copied unchanged.
package lineproto
