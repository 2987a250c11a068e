package bench

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// The counts wsgilab prints must be the counts ab prints for the same server. These
// tests run the real ab (skipped where apache2-utils is not installed) and wsgilab
// against twin servers and compare the count lines of the two reports. Times are
// not compared: they are measurements, not counts.

// abCountLines are the report lines that hold counts (and the target's identity).
var abCountLines = []string{
	"Server Software:", "Server Port:", "Document Path:", "Document Length:", "Concurrency Level:",
	"Complete requests:", "Failed requests:", "   (Connect:", "Write errors:", "Non-2xx responses:",
	"Keep-Alive requests:", "Total transferred:", "HTML transferred:",
}

func countLines(report string) map[string]string {
	out := map[string]string{}
	for _, l := range strings.Split(report, "\n") {
		for _, k := range abCountLines {
			if strings.HasPrefix(l, k) {
				out[k] = strings.TrimSpace(strings.TrimPrefix(l, k))
			}
		}
	}
	return out
}

func TestCountsMatchAB(t *testing.T) {
	abPath, err := exec.LookPath("ab")
	if err != nil {
		t.Fatal("ab (apache2-utils) not installed: run scripts/install-stack.sh")
	}
	cases := []struct {
		name   string
		server func(*testing.T) *rawServer
		args   []string // ab's options, also given to wsgilab
	}{
		{"keepalive", helloServer, []string{"-k", "-n", "60", "-c", "3"}},
		{"close", helloServer, []string{"-n", "30", "-c", "3"}},
		{"varying-length", varyingServer, []string{"-k", "-n", "30", "-c", "1"}},
		{"variable-ok", varyingServer, []string{"-l", "-n", "30", "-c", "1"}},
		{"non-2xx", func(t *testing.T) *rawServer {
			return newRawServer(t, func(c netConn, req *rawRequest) bool {
				if req.Index%4 == 1 {
					return respond(c, req, 500, "failure!!")
				}
				return respond(c, req, 200, "success!!")
			})
		}, []string{"-k", "-n", "40", "-c", "2"}},
		{"truncated", truncatingServer, []string{"-n", "20", "-c", "1"}},
		{"truncated-keepalive", truncatingServer, []string{"-k", "-n", "20", "-c", "1"}},
		{"http10", http10Server, []string{"-k", "-n", "30", "-c", "3"}},
		{"head", helloServer, []string{"-i", "-k", "-n", "10", "-c", "2"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			abSrv := tc.server(t)
			var abOut bytes.Buffer
			cmd := exec.CommandContext(ctx, abPath, append(append([]string{"-q"}, tc.args...), abSrv.URL("/doc"))...)
			cmd.Stdout, cmd.Stderr = &abOut, &abOut
			if err := cmd.Run(); err != nil {
				t.Fatalf("ab: %v\n%s", err, abOut.String())
			}
			wsSrv := tc.server(t)
			var out, errb bytes.Buffer
			if code := Main(ctx, append(append([]string{"-q"}, tc.args...), wsSrv.URL("/doc")), &out, &errb); code != 0 {
				t.Fatalf("wsgilab bench exited %d: %s", code, errb.String())
			}
			want, got := countLines(abOut.String()), countLines(out.String())
			// The port differs between the twin servers; everything else must not.
			delete(want, "Server Port:")
			delete(got, "Server Port:")
			for _, k := range abCountLines {
				if want[k] != got[k] {
					t.Errorf("%-22s ab %q, wsgilab %q", k, want[k], got[k])
				}
			}
			if t.Failed() {
				t.Logf("ab:\n%s\nwsgilab:\n%s", abOut.String(), out.String())
			}
		})
	}
}

// truncatingServer announces 100 bytes and sends 50 before closing, on odd
// requests; the first response (which sets ab's document length) is whole.
func truncatingServer(t *testing.T) *rawServer {
	return newRawServer(t, func(c netConn, req *rawRequest) bool {
		body := strings.Repeat("z", 100)
		if req.Index%2 == 1 {
			c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + body[:50]))
			return false
		}
		return respond(c, req, 200, body)
	})
}
