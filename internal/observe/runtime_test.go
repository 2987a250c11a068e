package observe

import (
	"bufio"
	"os/exec"
	"testing"
	"time"
)

// A real Python process: a thread it starts after "since" is the app's, its main thread is
// not; greenlet's extension shows in its maps once imported (Debian's python3, the one
// mod_wsgi embeds, with python3-eventlet's greenlet).
func TestReadRuntime(t *testing.T) {
	for _, tc := range []struct {
		name     string
		imports  string
		eventlet bool
	}{
		{"plain", "import threading, time", false},
		{"greenlet", "import threading, time, greenlet", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			script := tc.imports + `
print("started", flush=True)
input()
threading.Thread(target=time.sleep, args=(60,), daemon=True).start()
print("threaded", flush=True)
input()
`
			cmd := exec.Command("/usr/bin/python3", "-c", script)
			stdin, _ := cmd.StdinPipe()
			stdout, _ := cmd.StdoutPipe()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() { cmd.Process.Kill(); cmd.Wait() }()
			lines := bufio.NewScanner(stdout)
			if !lines.Scan() {
				t.Fatal("the python process said nothing")
			}
			// The thread starts well after since (appThreadMargin); the main thread before.
			time.Sleep(3 * clockTick)
			since := time.Now()
			time.Sleep(appThreadMargin + 3*clockTick)
			stdin.Write([]byte("\n"))
			if !lines.Scan() {
				t.Fatal("no thread")
			}
			r, err := ReadRuntime(cmd.Process.Pid, since)
			if err != nil {
				t.Fatal(err)
			}
			if r.PID != cmd.Process.Pid || r.Threads != 2 || r.AppThreads != 1 || r.Eventlet != tc.eventlet {
				t.Errorf("runtime %+v, want 2 threads, 1 started after since, eventlet %v", r, tc.eventlet)
			}
		})
	}
	if _, err := ReadRuntime(1<<30, time.Now()); err == nil {
		t.Error("a process that does not exist was read")
	}
}
