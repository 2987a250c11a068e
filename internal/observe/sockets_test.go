package observe

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestHelperHoldConnection is not a test: run as a child process with OBSERVE_HELPER_DIAL set,
// it connects there, prints its local port and pid, and holds the connection until its stdin
// closes, like a mod_wsgi process holding an AMQP connection.
func TestHelperHoldConnection(t *testing.T) {
	addr := os.Getenv("OBSERVE_HELPER_DIAL")
	if addr == "" {
		t.Skip("helper process only")
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Printf("port %d pid %d\n", c.LocalAddr().(*net.TCPAddr).Port, os.Getpid())
	io.Copy(io.Discard, os.Stdin)
	c.Close()
	os.Exit(0)
}

func TestSocketsOfProcessTree(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port

	// sh is the "Apache parent", the helper its child holding the connection.
	sh := exec.Command("sh", "-c", `"$0" -test.run='^TestHelperHoldConnection$'; echo exited`, os.Args[0])
	sh.Env = append(os.Environ(), "OBSERVE_HELPER_DIAL="+ln.Addr().String())
	stdin, _ := sh.StdinPipe()
	stdout, _ := sh.StdoutPipe()
	if err := sh.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		sh.Process.Kill() // the PID we started, if it is still there
		sh.Wait()
	}()
	out := bufio.NewReader(stdout)
	line, err := out.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	var childPort, childPID int
	if _, err := fmt.Sscanf(line, "port %d pid %d", &childPort, &childPID); err != nil {
		t.Fatalf("helper said %q: %v", line, err)
	}
	srv, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	// A connection of this process to the same port must not be counted: not the service's.
	own, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer own.Close()

	p := NewSockets(port, ProcessTree(sh.Process.Pid))
	sample := func() *SocketReading {
		t.Helper()
		v, _, err := p.Sample(context.Background(), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return v.(*SocketReading)
	}
	r := sample()
	if r.Established != 1 || len(r.Sockets) != 1 {
		t.Fatalf("reading %+v, want the child's one socket", r)
	}
	s := r.Sockets[0]
	if s.LocalPort != childPort || s.State != "ESTABLISHED" || len(s.PIDs) != 1 || s.PIDs[0] != childPID || s.Inode == 0 {
		t.Fatalf("socket %+v, want port %d held by pid %d", s, childPort, childPID)
	}
	if r.PIDs < 2 {
		t.Errorf("looked at %d processes, want sh and its child", r.PIDs)
	}

	// The broker closes: the client's socket waits in CLOSE_WAIT until it notices. The write-ups'
	// `ss | grep ESTAB` stops counting it, and so does Established.
	srv.Close()
	deadline := time.Now().Add(2 * time.Second)
	for {
		r = sample()
		if len(r.Sockets) == 1 && r.Sockets[0].State == "CLOSE_WAIT" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no CLOSE_WAIT after the server closed: %+v", r)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if r.Established != 0 || r.Sockets[0].Key() != s.Key() {
		t.Errorf("after close: %+v (key %s, was %s)", r, r.Sockets[0].Key(), s.Key())
	}

	// The child exits: nothing left.
	stdin.Close()
	if rest, _ := io.ReadAll(out); !strings.Contains(string(rest), "exited") {
		t.Fatalf("helper did not exit: %q", rest)
	}
	sh.Wait()
	if r = sample(); len(r.Sockets) != 0 || r.Established != 0 {
		t.Errorf("after exit: %+v", r)
	}
}

// A PID list with processes gone since it was made (Apache reaps children between the listing
// and the reading) is not an error.
func TestSocketsVanishedPIDs(t *testing.T) {
	p := NewSockets(1, func() []int { return []int{1 << 22, os.Getpid()} })
	v, _, err := p.Sample(context.Background(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if r := v.(*SocketReading); r.PIDs != 2 || len(r.Sockets) != 0 {
		t.Errorf("reading %+v", r)
	}
}
