package bench

import (
	"bytes"
	"testing"
)

func TestHeaderLength(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
	}{
		{"HTTP/1.1 200 OK\r\nA: b\r\n\r\nbody", 25},
		{"HTTP/1.1 200 OK\r\n\r\n", 19},
		{"HTTP/1.0 200 OK\n\nbody\r\n\r\n", 17}, // bare LF, as ab accepts
		{"HTTP/1.1 200 OK\r\nA: b\n\r\n", 24},
		{"HTTP/1.1 200 OK\r\nA: b\r\n", -1},
		{"HTTP/1.1 200 OK\r\nA: b\r\n\r", -1},
		{"HTTP/1.1 200 OK\r\nA: b", -1},
		{"HTTP/1.1 200 O", -1},
		{"", -1},
	} {
		var h respHead
		if got, err := parseHead([]byte(tc.in), false, nil, nil, false, &h); got != tc.want || err != nil {
			t.Errorf("parseHead(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
}

func TestParseHead(t *testing.T) {
	capture := [][]byte{[]byte("x-pid")}
	for _, tc := range []struct {
		in      string
		head    bool
		want    respHead
		pid     string
		wantErr error
	}{
		{in: "HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Length: 269\r\nX-Pid: 42\r\n\r\n",
			want: respHead{status: 200, minor: 1, contentLength: 269, framing: framingLength, server: []byte("nginx")}, pid: "42"},
		{in: "HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, Chunked\r\nconnection: Keep-Alive, Upgrade\r\n\r\n",
			want: respHead{status: 200, minor: 1, contentLength: -1, chunked: true, connKeepAlive: true, framing: framingChunked}},
		{in: "HTTP/1.0 404 Not Found\r\nConnection: close\r\n\r\n",
			want: respHead{status: 404, minor: 0, contentLength: -1, connClose: true, framing: framingClose}},
		{in: "HTTP/1.1 204 No Content\r\n\r\n", want: respHead{status: 204, minor: 1, contentLength: -1, framing: framingNone}},
		{in: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", head: true,
			want: respHead{status: 200, minor: 1, contentLength: 10, framing: framingNone}},
		{in: "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", want: respHead{status: 200, minor: 1, contentLength: 0, framing: framingLength}},
		{in: "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", wantErr: errBadLength},
		{in: "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", wantErr: errBadLength},
		{in: "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n", wantErr: errBadLength},
		{in: "HTTP/1.1 2x0 OK\r\n\r\n", wantErr: errBadStatusLine},
		{in: "HTTP/2 200 OK\r\n\r\n", wantErr: errBadStatusLine},
		{in: "ICY 200 OK\r\n\r\n", wantErr: errBadStatusLine},
		{in: "HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", wantErr: errBadHeader},
	} {
		var h respHead
		captured := make([][]byte, 1)
		n, err := parseHead([]byte(tc.in), tc.head, capture, captured, true, &h)
		if err == nil && n != len(tc.in) {
			t.Errorf("%q: header length %d, want %d", tc.in, n, len(tc.in))
		}
		if err != tc.wantErr {
			t.Errorf("%q: err %v, want %v", tc.in, err, tc.wantErr)
			continue
		}
		if err != nil {
			continue
		}
		if h.status != tc.want.status || h.minor != tc.want.minor || h.contentLength != tc.want.contentLength ||
			h.chunked != tc.want.chunked || h.connClose != tc.want.connClose || h.connKeepAlive != tc.want.connKeepAlive ||
			h.framing != tc.want.framing || !bytes.Equal(h.server, tc.want.server) || string(captured[0]) != tc.pid {
			t.Errorf("%q: got %+v (pid %q), want %+v (pid %q)", tc.in, h, captured[0], tc.want, tc.pid)
		}
	}
}

func TestChunkFeed(t *testing.T) {
	body := "5\r\nhello\r\n6;name=val\r\n world\r\nA\r\n0123456789\r\n0\r\nTrailer: x\r\n\r\nNEXT"
	// Every split point gives the same answer.
	for cut := 0; cut <= len(body); cut++ {
		var c chunkState
		used1, d1, done1, err := c.feed([]byte(body[:cut]))
		if err != nil {
			t.Fatalf("cut %d: %v", cut, err)
		}
		used2, d2, done2, err := c.feed([]byte(body[used1:]))
		if err != nil {
			t.Fatalf("cut %d: %v", cut, err)
		}
		done := done1 || done2
		if done1 {
			used2, d2 = 0, 0
		}
		if d1+d2 != 21 || !done || used1+used2 != len(body)-len("NEXT") {
			t.Fatalf("cut %d: data %d used %d done %v", cut, d1+d2, used1+used2, done)
		}
	}
	for _, bad := range []string{"x\r\n", "\r\n", "5\r\nhelloX\r\n", "fffffffffffffffff\r\n"} {
		var c chunkState
		if _, _, _, err := c.feed([]byte(bad)); err != errBadChunk {
			t.Errorf("%q: err %v", bad, err)
		}
	}
}

// FuzzParseResponse: the response parser never panics, never reports more body
// than it was given, and a chunked body decodes the same however it is split.
func FuzzParseResponse(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"), 7)
	f.Add([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"), 50)
	f.Add([]byte("HTTP/1.0 200 OK\n\nbody"), 3)
	f.Add([]byte("3;x\r\nabc\r\n0\r\nT: v\r\n\r\n"), 4)
	f.Fuzz(func(t *testing.T, data []byte, split int) {
		var h respHead
		captured := make([][]byte, 2)
		hl, err := parseHead(data, false, [][]byte{[]byte("x-pid"), []byte("server")}, captured, true, &h)
		if hl > len(data) || (err != nil && hl != 0) {
			t.Fatalf("header length %d of %d, err %v", hl, len(data), err)
		}
		if err == nil && hl > 0 {
			// The same header, whole, parses to the same length.
			var h2 respHead
			if hl2, err2 := parseHead(data[:hl], false, nil, nil, false, &h2); hl2 != hl || err2 != nil || h2.status != h.status {
				t.Fatalf("prefix parse %d %v, want %d", hl2, err2, hl)
			}
		}
		var whole chunkState
		u, d, done, err := whole.feed(data)
		if u < 0 || u > len(data) || d < 0 || d > int64(len(data)) {
			t.Fatalf("used %d data %d of %d", u, d, len(data))
		}
		if len(data) == 0 {
			return
		}
		if split < 0 {
			split = -split
		}
		split %= len(data) + 1
		var parts chunkState
		u1, d1, done1, err1 := parts.feed(data[:split])
		if err1 != nil || done1 {
			return // the split result is only comparable when the first part did not end it
		}
		u2, d2, done2, err2 := parts.feed(data[u1:])
		if (err == nil) != (err2 == nil) || done != done2 || (err == nil && (u1+u2 != u || d1+d2 != d)) {
			t.Fatalf("split %d: whole (%d %d %v %v), parts (%d %d %v %v)", split, u, d, done, err, u1+u2, d1+d2, done2, err2)
		}
	})
}
