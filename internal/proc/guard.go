package proc

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
)

// The guard covers the one exit path wsgilab cannot handle itself: being killed outright
// (SIGKILL, the OOM killer, a test binary's hard timeout). Pdeathsig then takes the leaders
// along, but not what they forked: Apache's children and mod_wsgi daemons would be orphaned,
// holding their ports. The guard is a tiny shell in its own process group that reads "add
// PGID" / "del PGID" lines from a pipe; when the pipe closes because wsgilab is gone, it kills
// the groups still registered. On a normal exit every group has been stopped and deleted, so
// it kills nothing. It only ever signals groups wsgilab started. "dir PATH" lines name the
// temporary directories wsgilab made (run dirs, socket dirs), removed the same way; one
// already removed by wsgilab's own teardown costs nothing; "keep PATH" takes one back.
// "undo ID COMMAND" lines register a shell command that reverses a change wsgilab made outside
// its processes (a firewall rule, a SIGSTOPped broker: internal/fault), "done ID" takes it back
// once wsgilab has reversed the change itself; the guard runs the commands still registered
// first, before it kills anything (a stopped process is continued before its group is killed).
const guardScript = `g=""
d=""
u=""
while read -r op id; do
  case "$op" in
    add) g="$g $id" ;;
    del) g=$(for x in $g; do [ "$x" = "$id" ] || printf "%s " "$x"; done) ;;
    dir) d="$d
$id" ;;
    keep) d=$(printf "%s\n" "$d" | while IFS= read -r p; do [ "$p" = "$id" ] || printf "%s\n" "$p"; done) ;;
    undo) u="$u
$id" ;;
    done) u=$(printf "%s\n" "$u" | while IFS= read -r l; do [ "${l%% *}" = "$id" ] || printf "%s\n" "$l"; done) ;;
  esac
done
printf "%s\n" "$u" | while IFS= read -r l; do [ -n "$l" ] && sh -c "${l#* }" </dev/null >/dev/null 2>&1; done
for x in $g; do kill -KILL -"$x" 2>/dev/null; done
sleep 0.2
printf "%s\n" "$d" | while IFS= read -r p; do [ -n "$p" ] && rm -rf -- "$p"; done`

var (
	guardOnce sync.Once
	guardMu   sync.Mutex
	guardPipe *os.File
)

// RemoveOnKill has the guard remove dir (a temporary directory wsgilab made) if wsgilab is
// killed outright; wsgilab's own teardown removes it otherwise. Paths with a newline are not
// registered.
func RemoveOnKill(dir string) {
	if dir == "" || strings.ContainsAny(dir, "\n") {
		return
	}
	guardLine("dir " + dir)
}

// KeepOnExit takes back a RemoveOnKill: dir is to outlive wsgilab (a failed cell's logs),
// whatever way wsgilab ends.
func KeepOnExit(dir string) {
	if dir == "" || strings.ContainsAny(dir, "\n") {
		return
	}
	guardLine("keep " + dir)
}

// undoSeq numbers the undo commands registered with UndoOnKill.
var undoSeq atomic.Int64

// UndoOnKill has the guard run command (one line of /bin/sh) if wsgilab is killed outright
// before it calls the returned function; wsgilab undoes the change itself on every other exit
// path and then calls it (calling it twice is harmless). A command with a newline is refused:
// the guard reads one line per request.
func UndoOnKill(command string) (done func(), err error) {
	if command == "" || strings.ContainsAny(command, "\n\r") {
		return nil, fmt.Errorf("guard: undo command %q: must be one non-empty line", command)
	}
	id := undoSeq.Add(1)
	guardLine(fmt.Sprintf("undo u%d %s", id, command))
	var once sync.Once
	return func() { once.Do(func() { guardLine(fmt.Sprintf("done u%d", id)) }) }, nil
}

// guardTell sends one line to the guard, starting it on first use. A guard that cannot be
// started or written to only costs the SIGKILL case; wsgilab's own teardown does not need it.
func guardTell(op string, pgid int) { guardLine(fmt.Sprintf("%s %d", op, pgid)) }

func guardLine(line string) {
	guardOnce.Do(startGuard)
	guardMu.Lock()
	defer guardMu.Unlock()
	if guardPipe != nil {
		fmt.Fprintln(guardPipe, line)
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
