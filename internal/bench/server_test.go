package bench

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// rawServer is a test HTTP server on a raw net.Listener (127.0.0.1 only), so that
// tests control every byte and every close: what ab's counting rules are about.
type rawServer struct {
	t        testing.TB
	ln       net.Listener
	serve    func(c net.Conn, req *rawRequest) bool // writes the response; false closes
	requests atomic.Int64
	conns    atomic.Int64
	mu       sync.Mutex
	open     map[net.Conn]bool
	wg       sync.WaitGroup
}

// rawRequest is what the server read.
type rawRequest struct {
	Index     int64 // 0-based, in arrival order across connections
	OnConn    int   // 0-based request number on its connection
	Method    string
	Target    string
	Proto     string
	Header    map[string]string // lower-case names
	Body      []byte
	WantsKeep bool // HTTP/1.1 without "Connection: close", or 1.0 with keep-alive
}

func newRawServer(t testing.TB, serve func(c net.Conn, req *rawRequest) bool) *rawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &rawServer{t: t, ln: ln, serve: serve, open: map[net.Conn]bool{}}
	s.wg.Add(1)
	go s.acceptLoop()
	t.Cleanup(s.Close)
	return s
}

func (s *rawServer) URL(path string) string { return "http://" + s.ln.Addr().String() + path }

func (s *rawServer) Close() {
	s.ln.Close()
	s.mu.Lock()
	for c := range s.open {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *rawServer) acceptLoop() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.conns.Add(1)
		s.mu.Lock()
		s.open[c] = true
		s.mu.Unlock()
		s.wg.Add(1)
		go s.handle(c)
	}
}

func (s *rawServer) handle(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.open, c)
		s.mu.Unlock()
		c.Close()
	}()
	br := bufio.NewReader(c)
	for n := 0; ; n++ {
		req, err := readRawRequest(br)
		if err != nil {
			return
		}
		req.Index = s.requests.Add(1) - 1
		req.OnConn = n
		if !s.serve(c, req) {
			return
		}
	}
}

func readRawRequest(br *bufio.Reader) (*rawRequest, error) {
	line, err := br.ReadString('\n')
	if err != nil {
		return nil, err
	}
	parts := strings.Fields(line)
	if len(parts) != 3 {
		return nil, fmt.Errorf("bad request line %q", line)
	}
	r := &rawRequest{Method: parts[0], Target: parts[1], Proto: parts[2], Header: map[string]string{}}
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			return nil, err
		}
		l = strings.TrimRight(l, "\r\n")
		if l == "" {
			break
		}
		k, v, _ := strings.Cut(l, ":")
		r.Header[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
	}
	if cl := r.Header["content-length"]; cl != "" {
		n, _ := strconv.Atoi(cl)
		r.Body = make([]byte, n)
		if _, err := io.ReadFull(br, r.Body); err != nil {
			return nil, err
		}
	}
	conn := strings.ToLower(r.Header["connection"])
	if r.Proto == "HTTP/1.1" {
		r.WantsKeep = !strings.Contains(conn, "close")
	} else {
		r.WantsKeep = strings.Contains(conn, "keep-alive")
	}
	return r, nil
}

// respond writes a complete HTTP/1.1 response with a Content-Length, keeping the
// connection if the client wants it. The bytes do not depend on the client beyond
// that, so ab (HTTP/1.0) and wsgilab (HTTP/1.1) read the same responses.
func respond(c net.Conn, req *rawRequest, status int, body string, extra ...string) bool {
	keep := req.WantsKeep
	var b strings.Builder
	fmt.Fprintf(&b, "HTTP/1.1 %d %s\r\nServer: rawtest/1.0 (test)\r\nContent-Length: %d\r\n", status, statusText(status), len(body))
	if keep {
		b.WriteString("Connection: keep-alive\r\n")
	} else {
		b.WriteString("Connection: close\r\n")
	}
	for _, h := range extra {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\n")
	if req.Method != "HEAD" {
		b.WriteString(body)
	}
	if _, err := io.WriteString(c, b.String()); err != nil {
		return false
	}
	return keep
}

func statusText(code int) string {
	switch code {
	case 200:
		return "OK"
	case 404:
		return "Not Found"
	case 500:
		return "Internal Server Error"
	case 503:
		return "Service Unavailable"
	}
	return "Status"
}

// checkNoLeaks fails the test if goroutines or open file descriptors outlive a run.
// Goroutines may take a moment to exit after the function that started them has
// returned (a wait group's Done runs last), so it waits a bounded while.
func checkNoLeaks(t *testing.T) func() {
	t.Helper()
	g0, fd0 := runtime.NumGoroutine(), openFDs()
	return func() {
		t.Helper()
		// A generous deadline: closes and goroutine exits settle in milliseconds, later on a
		// loaded machine; only a real leak outlasts it.
		deadline := time.Now().Add(30 * time.Second)
		for {
			g, fd := runtime.NumGoroutine(), openFDs()
			if g <= g0 && (fd0 < 0 || fd <= fd0) {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<16)
				n := runtime.Stack(buf, true)
				t.Fatalf("leak: goroutines %d -> %d, fds %d -> %d\n%s", g0, g, fd0, fd, buf[:n])
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// openFDs counts this process's open file descriptors (-1 where /proc is missing).
func openFDs() int {
	d, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(d)
}

// netConn shortens handler signatures.
type netConn = net.Conn

// fastServer answers every request with the same bytes, from one goroutine per
// connection and without allocating: for benchmarks and memory tests, where the
// test server must not be what is measured. It only understands GETs without a
// body, counting requests by their blank line.
func fastServer(tb testing.TB, response string) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	resp := []byte(response)
	var wg sync.WaitGroup
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = true
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				buf := make([]byte, 4096)
				out := make([]byte, 0, 16*len(resp))
				match := 0
				for {
					n, err := c.Read(buf)
					if err != nil {
						return
					}
					out = out[:0]
					for _, b := range buf[:n] {
						switch {
						case b == "\r\n\r\n"[match]:
							match++
							if match == 4 {
								out = append(out, resp...)
								match = 0
							}
						case b == '\r':
							match = 1
						default:
							match = 0
						}
					}
					if len(out) > 0 {
						if _, err := c.Write(out); err != nil {
							return
						}
					}
				}
			}()
		}
	}()
	tb.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return "http://" + ln.Addr().String() + "/"
}

// nginxLike is the response the peers benchmark uses: 269 bytes of body.
var nginxLike = "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nContent-Type: text/html\r\nContent-Length: 269\r\n" +
	"Connection: keep-alive\r\nAccept-Ranges: bytes\r\n\r\n" + strings.Repeat("x", 269)
