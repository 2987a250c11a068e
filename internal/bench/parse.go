package bench

import (
	"bytes"
	"errors"
)

// This file holds the HTTP/1.x response parsing of the lean client: just enough of
// RFC 9112 to frame responses (status line, Content-Length, chunked, Connection) on
// a reused connection, in one pass over bytes already in the read buffer and without
// allocating. Everything else in the header is skipped unless the caller asked to
// capture it.

// Errors of a malformed response. They count as "Exceptions" in ab's breakdown.
var (
	errHeaderTooLarge = errors.New("response header too large")
	errBadStatusLine  = errors.New("malformed HTTP status line")
	errBadHeader      = errors.New("malformed HTTP header")
	errBadLength      = errors.New("malformed Content-Length")
	errBadChunk       = errors.New("malformed chunked encoding")
)

// bodyFraming says how the end of a response body is found.
type bodyFraming uint8

const (
	framingNone    bodyFraming = iota // no body: HEAD, 1xx, 204, 304
	framingLength                     // Content-Length bytes
	framingChunked                    // Transfer-Encoding: chunked
	framingClose                      // read until the server closes (HTTP/1.0 style)
)

// respHead is what the client needs from a response header.
type respHead struct {
	status        int
	minor         int   // HTTP/1.<minor>
	contentLength int64 // -1 when absent
	chunked       bool
	connClose     bool // "Connection: close"
	connKeepAlive bool // "Connection: keep-alive" (what an HTTP/1.0 server says to keep it)
	server        []byte
	framing       bodyFraming
}

// parseHead parses the response header at the start of b in one pass and returns
// its length, including the blank line that ends it, or -1 when b does not hold a
// whole header yet (the caller reads more and calls again). Like ab it accepts bare
// LF line ends ("so that we talk to NCSA 1.5"). capture holds lower-case header
// names whose values the caller wants; their values are stored in captured (same
// index) as sub-slices of b. wantServer asks for the Server header (only the first
// response's is reported).
func parseHead(b []byte, head bool, capture [][]byte, captured [][]byte, wantServer bool, h *respHead) (int, error) {
	*h = respHead{contentLength: -1}
	for i := range captured {
		captured[i] = nil
	}
	nl := bytes.IndexByte(b, '\n')
	if nl < 0 {
		return -1, nil
	}
	line := b[:nl]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	// "HTTP/1.1 200 OK": ab reads the three bytes after "HTTP/1.x "; be a little
	// stricter so that framing decisions rest on a real status line.
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return 0, errBadStatusLine
	}
	if line[7] < '0' || line[7] > '9' {
		return 0, errBadStatusLine
	}
	h.minor = int(line[7] - '0')
	st := 0
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return 0, errBadStatusLine
		}
		st = st*10 + int(c-'0')
	}
	if len(line) > 12 && line[12] != ' ' {
		return 0, errBadStatusLine
	}
	h.status = st
	pos := nl + 1
	for {
		nl := bytes.IndexByte(b[pos:], '\n')
		if nl < 0 {
			return -1, nil
		}
		line := b[pos : pos+nl]
		pos += nl + 1
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		if len(line) == 0 {
			break
		}
		if err := h.field(line, capture, captured, wantServer); err != nil {
			return 0, err
		}
	}
	switch {
	case head || st/100 == 1 || st == 204 || st == 304:
		h.framing = framingNone
	case h.chunked:
		h.framing = framingChunked
	case h.contentLength >= 0:
		h.framing = framingLength
	default:
		h.framing = framingClose
	}
	return pos, nil
}

// field takes in one header line. Only the names that matter for framing (and the
// ones asked for) are looked at; a switch on the length keeps the rest cheap.
func (h *respHead) field(line []byte, capture [][]byte, captured [][]byte, wantServer bool) error {
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 {
		return errBadHeader
	}
	name, value := line[:colon], trimSpace(line[colon+1:])
	switch len(name) {
	case 14:
		if equalFold(name, "content-length") {
			n, err := parseLength(value)
			if err != nil {
				return err
			}
			if h.contentLength >= 0 && h.contentLength != n {
				return errBadLength // conflicting lengths: a smuggling-grade error
			}
			h.contentLength = n
		}
	case 17:
		if equalFold(name, "transfer-encoding") {
			// Only the last coding matters for framing; "gzip, chunked" is chunked.
			v := value
			if k := bytes.LastIndexByte(v, ','); k >= 0 {
				v = trimSpace(v[k+1:])
			}
			h.chunked = equalFold(v, "chunked")
		}
	case 10:
		if equalFold(name, "connection") {
			for v := value; len(v) > 0; {
				tok := v
				if k := bytes.IndexByte(v, ','); k >= 0 {
					tok, v = v[:k], v[k+1:]
				} else {
					v = nil
				}
				tok = trimSpace(tok)
				if equalFold(tok, "close") {
					h.connClose = true
				} else if equalFold(tok, "keep-alive") {
					h.connKeepAlive = true
				}
			}
		}
	case 6:
		if wantServer && equalFold(name, "server") {
			h.server = value
		}
	}
	for k, c := range capture {
		if len(c) == len(name) && equalFoldBytes(name, c) {
			captured[k] = value
		}
	}
	return nil
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

// equalFold compares b with the lower-case ASCII string s, ignoring the case of b.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// equalFoldBytes is equalFold with the lower-case name as bytes.
func equalFoldBytes(b, lower []byte) bool {
	for i := 0; i < len(b); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

func parseLength(b []byte) (int64, error) {
	if len(b) == 0 || len(b) > 18 {
		return 0, errBadLength
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, errBadLength
		}
		n = n*10 + int64(c-'0')
	}
	return n, nil
}

// chunkState is the chunked-body decoder. It is fed whatever bytes arrive, split
// anywhere, and counts the decoded body bytes.
type chunkState struct {
	state   uint8
	size    int64 // remaining bytes of the current chunk (in chunkData)
	digits  int   // hex digits seen in the size line
	trailer bool  // the current trailer line has content
}

const (
	chunkSize    uint8 = iota // reading hex digits of a size line
	chunkExt                  // skipping a chunk extension up to LF
	chunkData                 // inside chunk data
	chunkDataCR               // expecting CR (or LF) after data
	chunkDataLF               // expecting LF after data
	chunkTrailer              // reading trailer lines after the last chunk
	chunkDone
)

// feed consumes bytes of a chunked body from p. It returns how many bytes of p it
// used, how many of them were body data, and whether the body is complete (bytes
// after the end are left unconsumed).
func (c *chunkState) feed(p []byte) (used int, data int64, done bool, err error) {
	i := 0
	for i < len(p) {
		switch c.state {
		case chunkSize:
			b := p[i]
			var v byte
			switch {
			case '0' <= b && b <= '9':
				v = b - '0'
			case 'a' <= b && b <= 'f':
				v = b - 'a' + 10
			case 'A' <= b && b <= 'F':
				v = b - 'A' + 10
			case b == ';' || b == ' ' || b == '\t' || b == '\r':
				if c.digits == 0 {
					return i, data, false, errBadChunk
				}
				c.state = chunkExt
				continue
			case b == '\n':
				if c.digits == 0 {
					return i, data, false, errBadChunk
				}
				c.state = chunkExt
				continue
			default:
				return i, data, false, errBadChunk
			}
			if c.digits >= 15 {
				return i, data, false, errBadChunk
			}
			c.size = c.size<<4 | int64(v)
			c.digits++
			i++
		case chunkExt:
			j := bytes.IndexByte(p[i:], '\n')
			if j < 0 {
				return len(p), data, false, nil
			}
			i += j + 1
			c.digits = 0
			if c.size == 0 {
				c.state = chunkTrailer
				c.trailer = false
			} else {
				c.state = chunkData
			}
		case chunkData:
			n := int64(len(p) - i)
			if n > c.size {
				n = c.size
			}
			i += int(n)
			data += n
			c.size -= n
			if c.size == 0 {
				c.state = chunkDataCR
			}
		case chunkDataCR:
			switch p[i] {
			case '\r':
				c.state = chunkDataLF
			case '\n':
				c.state = chunkSize
			default:
				return i, data, false, errBadChunk
			}
			i++
		case chunkDataLF:
			if p[i] != '\n' {
				return i, data, false, errBadChunk
			}
			i++
			c.state = chunkSize
		case chunkTrailer:
			b := p[i]
			i++
			switch b {
			case '\n':
				if !c.trailer {
					c.state = chunkDone
					return i, data, true, nil
				}
				c.trailer = false
			case '\r':
			default:
				c.trailer = true
			}
		case chunkDone:
			return i, data, true, nil
		}
	}
	return i, data, c.state == chunkDone, nil
}

// bodyState frames a response body fed in pieces (the event loop's reads).
type bodyState struct {
	framing   bodyFraming
	remaining int64 // framingLength: bytes still to come
	chunk     chunkState
}

func (b *bodyState) init(h *respHead) {
	*b = bodyState{framing: h.framing, remaining: h.contentLength}
}

// consume takes the next bytes of the body, adding the body bytes to *body. done
// says the body is complete; stray that bytes followed its end (the connection is
// then out of step). framingClose is never done: the end is the connection's.
func (b *bodyState) consume(p []byte, body *int64) (done, stray bool, err error) {
	switch b.framing {
	case framingNone:
		return true, len(p) > 0, nil
	case framingLength:
		n := min(int64(len(p)), b.remaining)
		*body += n
		b.remaining -= n
		return b.remaining == 0, int64(len(p)) > n, nil
	case framingChunked:
		used, data, done, err := b.chunk.feed(p)
		*body += data
		return done, done && used < len(p), err
	default:
		*body += int64(len(p))
		return false, false, nil
	}
}
