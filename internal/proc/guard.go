package proc

import (
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
)

// The guard covers the one exit path wsgilab cannot handle itself: being killed outright
// (SIGKILL, the OOM killer, a test binary's hard timeout). Pdeathsig then takes the leaders
// along, but not what they forked: Apache's children and mod_wsgi daemons would be orphaned,
// holding their ports. The guard is a tiny shell in its own process group that reads "add
// PGID" / "del PGID" lines from a pipe; when the pipe closes because wsgilab is gone, it kills
// the groups still registered. On a normal exit every group has been stopped and deleted, so
// it kills nothing. It only ever signals groups wsgilab started.
const guardScript = `g=""
while read -r op id; do
  case "$op" in
    add) g="$g $id" ;;
    del) g=$(for x in $g; do [ "$x" = "$id" ] || printf "%s " "$x"; done) ;;
  esac
done
for x in $g; do kill -KILL -"$x" 2>/dev/null; done`

var (
	guardOnce sync.Once
	guardMu   sync.Mutex
	guardPipe *os.File
)

// guardTell sends one line to the guard, starting it on first use. A guard that cannot be
// started or written to only costs the SIGKILL case; wsgilab's own teardown does not need it.
func guardTell(op string, pgid int) {
	guardOnce.Do(startGuard)
	guardMu.Lock()
	defer guardMu.Unlock()
	if guardPipe != nil {
		fmt.Fprintf(guardPipe, "%s %d\n", op, pgid)
	}
}

func startGuard() {
	r, w, err := os.Pipe()
	if err != nil {
		return
	}
	cmd := exec.Command("/bin/sh", "-c", guardScript)
	cmd.Stdin = r
	// Its own group, so that no group kill of ours reaches it; no Pdeathsig: it must outlive us.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return
	}
	r.Close()
	// Reap it whenever it ends, so that it never lingers as a zombie of ours.
	go cmd.Wait()
	guardPipe = w
}
