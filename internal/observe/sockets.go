package observe

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/procfs"

	"wsgilab/internal/proc"
)

// Socket is one TCP socket from the service to the broker port, what `ss -tnp | grep 5672`
// showed in the write-ups.
//
// JSON:
//
//	{"local_port": 35534,            the client port: the broker's peer_port of the same connection
//	 "state": "ESTABLISHED",         CLOSE_WAIT = the broker closed it and the client has not noticed yet
//	 "inode": 123456,
//	 "pids": [4242]}                 processes holding it (a socket inherited across fork is held by several)
type Socket struct {
	LocalPort int    `json:"local_port"`
	State     string `json:"state"`
	Inode     uint64 `json:"inode"`
	PIDs      []int  `json:"pids"`
}

// Key identifies one socket for its whole life (a port may be reused by a later socket).
func (s Socket) Key() string { return fmt.Sprintf("%d#%d", s.LocalPort, s.Inode) }

// SocketReading is one sample of the sockets.
//
// JSON: {"established": 2, "pids": 5, "sockets": [Socket, ...]} (sorted by local_port);
// "pids" is how many processes were looked at.
type SocketReading struct {
	Established int      `json:"established"`
	PIDs        int      `json:"pids"`
	Sockets     []Socket `json:"sockets"`
}

// Sockets is the probe of the service's TCP sockets to 127.0.0.1:port, read from /proc: the
// socket inodes of /proc/<pid>/fd joined with /proc/net/tcp{,6}. Unlike the management API it
// sees a close at once.
type Sockets struct {
	port int
	pids func() []int
	fs   procfs.FS
	err  error
}

// NewSockets watches the sockets to the broker's port held by the processes pids returns (re-read
// on every sample).
func NewSockets(port int, pids func() []int) *Sockets {
	fs, err := procfs.NewDefaultFS()
	return &Sockets{port: port, pids: pids, fs: fs, err: err}
}

// ProcessTree returns a PID lister for pid and all its descendants, e.g. the Apache parent,
// its children and the mod_wsgi daemon processes.
func ProcessTree(pid int) func() []int {
	return func() []int {
		return append([]int{pid}, proc.Descendants(pid)...)
	}
}

func (s *Sockets) Name() string { return "sockets" }

// tcpStates are the kernel's TCP states as /proc/net/tcp numbers them.
var tcpStates = map[uint64]string{
	1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1", 5: "FIN_WAIT2", 6: "TIME_WAIT",
	7: "CLOSE", 8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN", 11: "CLOSING", 12: "NEW_SYN_RECV",
}

func (s *Sockets) Sample(_ context.Context, _ time.Time) (any, []Event, error) {
	if s.err != nil {
		return nil, nil, s.err
	}
	// The connections to the broker, by inode.
	byInode := map[uint64]*Socket{}
	var errs []error
	for _, read := range []func() (procfs.NetTCP, error){s.fs.NetTCP, s.fs.NetTCP6} {
		lines, err := read()
		if err != nil {
			if !errors.Is(err, os.ErrNotExist) { // no IPv6 in this kernel
				errs = append(errs, err)
			}
			continue
		}
		for _, l := range lines {
			if int(l.RemPort) != s.port || !l.RemAddr.IsLoopback() || l.Inode == 0 {
				continue // inode 0: TIME_WAIT, no longer anyone's socket
			}
			st, ok := tcpStates[l.St]
			if !ok {
				st = strconv.FormatUint(l.St, 10)
			}
			byInode[l.Inode] = &Socket{LocalPort: int(l.LocalPort), State: st, Inode: l.Inode}
		}
	}
	if len(errs) > 0 && len(byInode) == 0 {
		return nil, nil, errors.Join(errs...)
	}
	pids := s.pids()
	seen := map[uint64]bool{}
	for _, pid := range pids {
		p, err := s.fs.Proc(pid)
		if err != nil {
			continue // exited since it was listed
		}
		targets, err := p.FileDescriptorTargets()
		if err != nil {
			continue
		}
		for _, t := range targets {
			// "socket:[123456]"
			if !strings.HasPrefix(t, "socket:[") {
				continue
			}
			ino, err := strconv.ParseUint(strings.TrimSuffix(t[len("socket:["):], "]"), 10, 64)
			if err != nil {
				continue
			}
			if sk, ok := byInode[ino]; ok {
				if len(sk.PIDs) == 0 || sk.PIDs[len(sk.PIDs)-1] != pid {
					sk.PIDs = append(sk.PIDs, pid)
				}
				seen[ino] = true
			}
		}
	}
	r := &SocketReading{PIDs: len(pids), Sockets: []Socket{}}
	for ino := range seen {
		sk := byInode[ino]
		sort.Ints(sk.PIDs)
		r.Sockets = append(r.Sockets, *sk)
		if sk.State == "ESTABLISHED" {
			r.Established++
		}
	}
	sort.Slice(r.Sockets, func(i, j int) bool { return r.Sockets[i].LocalPort < r.Sockets[j].LocalPort })
	return r, nil, nil
}
