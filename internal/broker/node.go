package broker

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/procfs"

	"wsgilab/internal/proc"
)

const (
	// startTimeout bounds one boot of the node; it takes ~3.5 s on an idle 2-core machine.
	startTimeout = 60 * time.Second
	// startAttempts: a boot is retried with new ports when one of them was taken between
	// proc.FreePorts and the bind (another run, or an ephemeral client port).
	startAttempts = 3
	// gracefulStopTimeout bounds the wait for the node to shut down cleanly before SIGKILL.
	gracefulStopTimeout = 20 * time.Second
	// helperGrace is how long beam's helpers (erl_child_setup, inet_gethost) get to notice
	// that beam is gone before they are killed.
	helperGrace = 3 * time.Second
)

// shutdownDoneMarker is logged once the rabbit application has stopped its listeners, closed
// every client connection and stopped its message stores. In 3.10 the management agent then
// waits a fixed 5 s for nothing (rabbitmq-server PR #3800 added the wait, PR #11070 removed it
// in 3.13), so a node takes ~6 s to stop. The node's data is thrown away with the run, so once
// this line is written the rest of the shutdown has nothing left to protect: Stop kills it.
const shutdownDoneMarker = "Management plugin: to stop collect_statistics"

// errPortTaken marks a boot that failed because a port was taken: worth retrying elsewhere.
var errPortTaken = errors.New("port already in use")

// portTakenSigns are how a node or epmd reports a port it could not bind.
var portTakenSigns = []string{"eaddrinuse", "dist_port_already_used", "address already in use"}

// pickPorts chooses the node's ports (AMQP, management, distribution, epmd); tests replace it
// to force a collision.
var pickPorts = proc.FreePorts

// privateNode is the running processes of a private broker.
type privateNode struct {
	cfg    nodeConfig
	epmd   *proc.Process
	beam   *proc.Process
	notify *notifyListener

	logsFrom map[string]int64 // log file -> its size when this boot attempt began

	stopOnce sync.Once
	stopErr  error
}

// StartPrivate starts a private RabbitMQ node with its files under dir/rabbitmq (dir is the
// run's directory, created if missing; removing it is the caller's job) and returns once the management API answers and the AMQP
// port accepts connections. On any error nothing it started is left running.
func StartPrivate(ctx context.Context, dir string) (*Broker, error) {
	// The caller owns (and removes) dir; creating it when missing spares callers a step.
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("private broker: run dir: %w", err)
	}
	if _, err := os.Stat(serverScript); err != nil {
		return nil, fmt.Errorf("private broker: %s not found (install the stack with scripts/install-stack.sh): %w", serverScript, err)
	}
	epmdPath, err := exec.LookPath("epmd")
	if err != nil {
		return nil, fmt.Errorf("private broker: epmd not found (it comes with erlang-base, a dependency of rabbitmq-server): %w", err)
	}
	absDir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	id := randomHex(4)
	cfg := nodeConfig{
		Node:          "wsgilab-" + id + "@localhost",
		Dir:           filepath.Join(absDir, "rabbitmq"),
		AdminUser:     "wsgilab-admin",
		AdminPassword: randomHex(12),
	}
	var errs []error
	for attempt := 1; attempt <= startAttempts; attempt++ {
		ports, err := pickPorts(4)
		if err != nil {
			return nil, err
		}
		cfg.AMQPPort, cfg.ManagementPort, cfg.DistPort, cfg.EPMDPort = ports[0], ports[1], ports[2], ports[3]
		// Abstract socket: no file to clean up, no 108-byte path limit for deep run dirs.
		cfg.NotifySocket = "@wsgilab-" + id + "-notify-" + strconv.Itoa(attempt)
		began := time.Now()
		b, err := startNode(ctx, cfg, epmdPath)
		if err == nil {
			b.StartupTime = time.Since(began)
			return b, nil
		}
		errs = append(errs, fmt.Errorf("attempt %d (%s): %w", attempt, cfg, err))
		if !errors.Is(err, errPortTaken) || ctx.Err() != nil {
			break
		}
	}
	return nil, fmt.Errorf("private broker: %w", errors.Join(errs...))
}

// startNode runs one boot: epmd, then the node, then waits until both APIs answer. On error
// it tears down whatever it started.
func startNode(ctx context.Context, cfg nodeConfig, epmdPath string) (b *Broker, err error) {
	if err := cfg.writeFiles(); err != nil {
		return nil, fmt.Errorf("writing node files: %w", err)
	}
	// Logs are appended to across attempts: only what this attempt wrote may classify it.
	n := &privateNode{cfg: cfg, logsFrom: map[string]int64{}}
	for _, l := range []string{cfg.path("epmd.log"), cfg.path("stdout.log"), cfg.logPath()} {
		n.logsFrom[l] = fileSize(l)
	}
	defer func() {
		if err != nil {
			// Nothing of a failed boot is worth a graceful shutdown.
			if serr := n.teardown(false); serr != nil {
				err = errors.Join(err, serr)
			}
		}
	}()

	if n.notify, err = listenNotify(cfg.NotifySocket); err != nil {
		return nil, err
	}

	// Our own epmd in the foreground (not -daemon): it is a child we can stop, and the node's
	// name is registered there only, so two runs never share or outlive one another's epmd.
	epmdCmd := exec.Command(epmdPath, "-port", strconv.Itoa(cfg.EPMDPort), "-address", "127.0.0.1")
	epmdCmd.Env = cfg.env()
	epmdCmd.Dir = cfg.Dir
	if n.epmd, err = proc.Start("epmd "+cfg.Node, epmdCmd, cfg.path("epmd.log")); err != nil {
		return nil, err
	}
	ectx, cancel := context.WithTimeout(ctx, 5*time.Second)
	err = proc.WaitListening(ectx, cfg.EPMDPort, n.epmd)
	cancel()
	if err != nil {
		return nil, n.classify(fmt.Errorf("epmd: %w", err))
	}

	// The real script, not the /usr/sbin wrapper (which switches to the rabbitmq user and
	// /var/lib/rabbitmq), in the foreground so that proc owns the VM.
	cmd := exec.Command(serverScript)
	cmd.Env = cfg.serverEnv()
	cmd.Dir = cfg.Dir // where a crash dump or other stray file would land
	if n.beam, err = proc.Start("rabbitmq "+cfg.Node, cmd, cfg.path("stdout.log")); err != nil {
		return nil, err
	}

	client, mgmtURL, err := newManagementClient("127.0.0.1", cfg.ManagementPort, cfg.AdminUser, cfg.AdminPassword)
	if err != nil {
		return nil, err
	}
	b = &Broker{
		AMQPHost:       "127.0.0.1",
		AMQPPort:       cfg.AMQPPort,
		ManagementPort: cfg.ManagementPort,
		AdminUser:      cfg.AdminUser,
		AdminPassword:  cfg.AdminPassword,
		Dir:            cfg.Dir,
		LogPath:        cfg.logPath(),
		Node:           cfg.Node,
		managementURL:  mgmtURL,
		client:         client,
		node:           n,
		vhosts:         map[string]*Vhost{},
	}
	if err := n.waitReady(ctx, b); err != nil {
		return nil, err
	}
	return b, nil
}

// waitReady polls until the management API accepts the admin user and the AMQP port accepts
// connections. `rabbitmqctl await_startup` is no use here: it fails at once until the node has
// registered with epmd, and costs an Erlang VM start per call. The management listener comes
// up before the AMQP one, hence both checks.
func (n *privateNode) waitReady(ctx context.Context, b *Broker) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	amqpAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(n.cfg.AMQPPort))
	var apiErr error
	for {
		if exited, werr := n.beam.Exited(); exited {
			return n.classify(fmt.Errorf("node exited during boot (%v); last status %q; output:\n%s",
				werr, n.notify.Status(), tail(n.cfg.path("stdout.log"), 2000)))
		}
		rctx, rcancel := context.WithTimeout(ctx, 2*time.Second)
		_, apiErr = b.api(rctx).Whoami()
		rcancel()
		if apiErr == nil {
			c, err := net.DialTimeout("tcp", amqpAddr, 200*time.Millisecond)
			if err == nil {
				c.Close()
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("node not ready: %w (last status %q, management API: %v; log %s)",
				ctx.Err(), n.notify.Status(), apiErr, n.cfg.logPath())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// stop shuts the node down once (see teardown); later calls return the first result.
func (n *privateNode) stop() error {
	n.stopOnce.Do(func() { n.stopErr = n.teardown(true) })
	return n.stopErr
}

// teardown ends the node, its helpers and epmd, and returns once none of them is left and (for
// a node that was up) none of its ports has a listener. graceful is for a node that was up: it
// lets the node close client connections and write its last log lines first.
func (n *privateNode) teardown(graceful bool) error {
	var errs []error
	if n.beam != nil {
		// erl_child_setup calls setsid and inet_gethost runs under it: they are not in the
		// node's process group, so remember them before beam goes.
		helpers := helperProcs(n.beam.PID)
		if graceful {
			n.shutdown()
		}
		if err := n.beam.Stop(syscall.SIGKILL, 0); err != nil {
			errs = append(errs, err)
		}
		if err := waitHelpersGone(helpers); err != nil {
			errs = append(errs, err)
		}
	}
	if n.epmd != nil {
		// Only after the node: a node that loses its epmd complains in its last log lines.
		if err := n.epmd.Stop(syscall.SIGTERM, 2*time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	// The kernel frees a listener when its process dies, so this is a safety net, and only
	// for a node that came up: after a failed boot a port may be held by whoever took it.
	if graceful {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := proc.WaitPortsFree(ctx, n.cfg.AMQPPort, n.cfg.ManagementPort, n.cfg.DistPort, n.cfg.EPMDPort); err != nil {
			errs = append(errs, fmt.Errorf("node %s: %w", n.cfg.Node, err))
		}
	}
	if n.notify != nil {
		n.notify.Close()
	}
	return errors.Join(errs...)
}

// shutdown asks the node to stop (SIGTERM is a clean shutdown for RabbitMQ) and returns when
// it has exited, when it has logged shutdownDoneMarker, or after gracefulStopTimeout.
func (n *privateNode) shutdown() {
	from := fileSize(n.cfg.logPath())
	_ = syscall.Kill(n.beam.PID, syscall.SIGTERM)
	deadline := time.Now().Add(gracefulStopTimeout)
	for time.Now().Before(deadline) {
		if exited, _ := n.beam.Exited(); exited {
			return
		}
		if fileContainsFrom(n.cfg.logPath(), from, shutdownDoneMarker) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// helperProc is a descendant of beam, remembered by PID and start time so that a reused PID
// is never taken for it.
type helperProc struct {
	pid       int
	comm      string
	startTime uint64
}

func helperProcs(beamPID int) []helperProc {
	var out []helperProc
	for _, pid := range proc.Descendants(beamPID) {
		if st, err := procStat(pid); err == nil {
			out = append(out, helperProc{pid: pid, comm: st.Comm, startTime: st.Starttime})
		}
	}
	return out
}

// alive reports whether the helper still runs. A zombie counts as gone: it holds no port or
// file, and once beam has died its parent is init, which reaps it on its own schedule.
func (h helperProc) alive() bool {
	st, err := procStat(h.pid)
	if err != nil {
		return false
	}
	return st.Starttime == h.startTime && st.State != "Z"
}

// waitHelpersGone waits for beam's helpers to exit (they do when beam's pipes close), and
// kills any that have not after helperGrace.
func waitHelpersGone(helpers []helperProc) error {
	left := func() []helperProc {
		var l []helperProc
		for _, h := range helpers {
			if h.alive() {
				l = append(l, h)
			}
		}
		return l
	}
	deadline := time.Now().Add(helperGrace)
	for time.Now().Before(deadline) {
		if len(left()) == 0 {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, h := range left() {
		_ = syscall.Kill(h.pid, syscall.SIGKILL)
	}
	deadline = time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		if len(left()) == 0 {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	l := left()
	desc := make([]string, len(l))
	for i, h := range l {
		desc[i] = fmt.Sprintf("%d (%s)", h.pid, h.comm)
	}
	return fmt.Errorf("beam helpers still running after SIGKILL: %s", strings.Join(desc, ", "))
}

func procStat(pid int) (procfs.ProcStat, error) {
	p, err := procfs.NewProc(pid)
	if err != nil {
		return procfs.ProcStat{}, err
	}
	return p.Stat()
}

// Processes lists the live (non-zombie) processes that belong to this broker: epmd, beam.smp
// and beam's helpers, found by the marker in their environment. Empty after Stop, and always
// empty for an existing broker. Meant for leak checks and diagnostics.
func (b *Broker) Processes() []int {
	if b.node == nil {
		return nil
	}
	return markedProcesses(b.Node)
}

func markedProcesses(node string) []int {
	want := markerEnv + "=" + node
	return proc.Matching(func(p procfs.Proc) bool {
		env, err := p.Environ()
		return err == nil && slices.Contains(env, want)
	})
}

// CtlCommand returns rabbitmqctl (or another CLI tool of the package, e.g. "rabbitmq-diagnostics"
// via tool) aimed at the private node, with the node's environment (HOME for the cookie, epmd
// port). For an existing broker it returns an error: its cookie and node are unknown.
func (b *Broker) CtlCommand(ctx context.Context, tool string, args ...string) (*exec.Cmd, error) {
	if b.node == nil {
		return nil, errors.New("broker: CLI tools need a private node")
	}
	path := ctlScript
	if tool != "" && tool != "rabbitmqctl" {
		path = filepath.Join(filepath.Dir(ctlScript), tool)
	}
	cmd := exec.CommandContext(ctx, path, append([]string{"-n", b.Node}, args...)...)
	cmd.Env = b.node.cfg.env()
	cmd.Dir = b.node.cfg.Dir
	return cmd, nil
}

// classify marks err as errPortTaken when what this attempt logged says a port could not be
// bound.
func (n *privateNode) classify(err error) error {
	for l, from := range n.logsFrom {
		data, rerr := readFrom(l, from)
		if rerr != nil {
			continue
		}
		lower := bytes.ToLower(data)
		for _, sign := range portTakenSigns {
			if bytes.Contains(lower, []byte(sign)) {
				return fmt.Errorf("%w: %w", errPortTaken, err)
			}
		}
	}
	return err
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// readFrom reads path from byte offset from to its end.
func readFrom(path string, from int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if _, err := f.Seek(from, io.SeekStart); err != nil {
		return nil, err
	}
	return io.ReadAll(f)
}

// fileContainsFrom reports whether path contains s after byte offset from.
func fileContainsFrom(path string, from int64, s string) bool {
	data, err := readFrom(path, from)
	return err == nil && bytes.Contains(data, []byte(s))
}

// tail returns the last max bytes of a file, for error messages.
func tail(path string, max int64) string {
	f, err := os.Open(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	defer f.Close()
	if size := fileSize(path); size > max {
		_, _ = f.Seek(size-max, io.SeekStart)
	}
	data, _ := io.ReadAll(f)
	return string(data)
}

func randomHex(nbytes int) string {
	b := make([]byte, nbytes)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return hex.EncodeToString(b)
}
