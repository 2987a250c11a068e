package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"wsgilab/internal/observe"
	"wsgilab/internal/proc"
)

// Master is a server run as one master process that forks its workers (uWSGI, gunicorn): the
// master leads its own process group, its stdout and stderr are its log (the workers inherit
// them, so the app's stderr lands there too), and it is ready when the app answers.
type Master struct {
	spec MasterSpec
	cfg  Config
	p    *proc.Process

	stopOnce sync.Once
	stopErr  error
}

// MasterSpec is what differs between such servers.
type MasterSpec struct {
	// Kind is the server's name; Cmd its command line (Dir and Env are set from the Config).
	Kind string
	Cmd  *exec.Cmd
	// Log receives the master's output; AccessLog is where it writes requests in
	// AccessLogFields' layout ("" when none), which may be Log itself.
	Log, AccessLog string
	Format         observe.Format
	// StopSignal ends the server quickly (uWSGI reloads on SIGTERM; gunicorn waits for busy
	// workers on SIGTERM); StopGrace is how long it gets before the whole group is killed.
	StopSignal syscall.Signal
	StopGrace  time.Duration
	// Loaded says what the server reports it runs, read from its log (its startup lines).
	Loaded func(log []byte) string
	// Conf is the configuration file the server was started with ("" when none).
	Conf string
}

// StartMaster starts spec.Cmd as c's server and waits until the app answers c.ReadyPath
// (below 500). On any error nothing is left running, and an app that failed to import is
// reported with its exception from the log.
func StartMaster(ctx context.Context, c Config, spec MasterSpec) (_ *Master, err error) {
	if err := proc.CheckPortFree(c.Port); err != nil {
		return nil, err
	}
	spec.Cmd.Dir = c.Dir
	spec.Cmd.Env = Environ(c.Env)
	p, err := proc.Start(spec.Kind, spec.Cmd, spec.Log)
	if err != nil {
		return nil, err
	}
	m := &Master{spec: spec, cfg: c, p: p}
	defer func() {
		if err != nil {
			if serr := m.Stop(); serr != nil {
				err = errors.Join(err, serr)
			}
		}
	}()
	if err := proc.WaitListening(ctx, c.Port, p); err != nil {
		return nil, m.failure(fmt.Sprintf("%s did not start listening: %v", spec.Kind, err))
	}
	return m, m.waitReady(ctx)
}

// Environ is a server's environment: env, with PATH and LANG when it has none (nothing is
// inherited from wsgilab's own environment).
func Environ(env []string) []string {
	out := append([]string(nil), env...)
	for _, def := range []string{"PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "LANG=C.UTF-8"} {
		k, _, _ := strings.Cut(def, "=")
		if !hasKey(out, k) {
			out = append(out, def)
		}
	}
	return out
}

func hasKey(env []string, k string) bool {
	for _, kv := range env {
		if strings.HasPrefix(kv, k+"=") {
			return true
		}
	}
	return false
}

// waitReady GETs ReadyPath until the app answers below 500.
func (m *Master) waitReady(ctx context.Context) error {
	path := m.cfg.ReadyPath
	if path == "" {
		path = "/"
	}
	client := NewClient(5 * time.Second)
	var last string
	for {
		req, err := http.NewRequestWithContext(ctx, "GET", m.URL()+path, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			if resp.StatusCode < 500 {
				return nil
			}
			if msg := AppException(m.logBytes()); msg != "" {
				return fmt.Errorf("app %s failed: %s (HTTP %d; see %s)", m.cfg.AppPath, msg, resp.StatusCode, m.Log())
			}
			last = fmt.Sprintf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
		} else {
			last = err.Error()
		}
		if exited, werr := m.p.Exited(); exited {
			return m.failure(fmt.Sprintf("%s exited while starting (%v)", m.spec.Kind, werr))
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return m.failure(fmt.Sprintf("the service never answered GET %s%s before the start's deadline (last: %s)", m.URL(), path, last))
			}
			return m.failure(fmt.Sprintf("waiting for %s%s: %v (last: %s)", m.URL(), path, ctx.Err(), last))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// failure is a start-up error: the app's exception when the log has one (the usual reason a
// worker would not boot), and the end of the log.
func (m *Master) failure(what string) error {
	log := m.logBytes()
	if msg := AppException(log); msg != "" {
		what = fmt.Sprintf("app %s failed: %s (%s)", m.cfg.AppPath, msg, what)
	}
	return fmt.Errorf("%s\n--- %s:\n%s", what, m.Log(), tail(log, 15))
}

// ConfPath is the configuration file the server was started with ("" when none): what `up`
// prints and `wsgilab doctor` reads.
func (m *Master) ConfPath() string { return m.spec.Conf }

func (m *Master) logBytes() []byte {
	b, _ := os.ReadFile(m.spec.Log)
	return b
}

// AppException is the last Python exception of a traceback in log, as "Type: message", or ""
// when there is none: a traceback's frames are indented, and the first unindented line after
// "Traceback (most recent call last):" is the exception. A SystemExit is a server ending a
// worker (gunicorn aborts one that timed out that way), not the app failing: it is skipped.
func AppException(log []byte) string {
	lines := strings.Split(string(log), "\n")
	found := ""
	for i, l := range lines {
		if !strings.HasPrefix(strings.TrimSpace(l), "Traceback (most recent call last):") {
			continue
		}
		for _, e := range lines[i+1:] {
			if e != "" && !strings.HasPrefix(e, " ") {
				if e = strings.TrimSpace(e); !strings.HasPrefix(e, "SystemExit") {
					found = e
				}
				break
			}
		}
	}
	return found
}

func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func (m *Master) Kind() string { return m.spec.Kind }
func (m *Master) URL() string  { return "http://127.0.0.1:" + strconv.Itoa(m.cfg.Port) }
func (m *Master) Port() int    { return m.cfg.Port }

// PIDs lists the master and every live process below it.
func (m *Master) PIDs() []int {
	if exited, _ := m.p.Exited(); exited {
		return proc.GroupMembers(m.p.PID)
	}
	return append([]int{m.p.PID}, proc.Descendants(m.p.PID)...)
}

// Processes are the master (RoleParent) and its workers (RoleWorker).
func (m *Master) Processes() []Process {
	var out []Process
	for _, pid := range m.PIDs() {
		role := RoleWorker
		if pid == m.p.PID {
			role = RoleParent
		}
		out = append(out, Process{PID: pid, Role: role})
	}
	return out
}

// AppRole is RoleWorker: the workers serve the requests (the master may have imported the app
// before forking them, but serves nothing).
func (m *Master) AppRole() string           { return RoleWorker }
func (m *Master) Log() string               { return m.spec.Log }
func (m *Master) LogFormat() observe.Format { return m.spec.Format }
func (m *Master) AccessLog() string         { return m.spec.AccessLog }
func (m *Master) StatusURL() string         { return "" }

// Loaded is what the server's startup lines say it runs.
func (m *Master) Loaded() string {
	if m.spec.Loaded == nil {
		return m.spec.Kind
	}
	return m.spec.Loaded(m.logBytes())
}

// Stop sends StopSignal to the master, SIGKILL to the group after StopGrace, and returns when
// every process is gone and the port is free. Safe to call more than once.
func (m *Master) Stop() error {
	m.stopOnce.Do(func() {
		err := m.p.Stop(m.spec.StopSignal, m.spec.StopGrace)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		m.stopErr = errors.Join(err, proc.WaitPortsFree(ctx, m.cfg.Port))
	})
	return m.stopErr
}

// LogLine returns the first line of log that contains marker, "" when none does.
func LogLine(log []byte, marker string) string {
	i := bytes.Index(log, []byte(marker))
	if i < 0 {
		return ""
	}
	start := bytes.LastIndexByte(log[:i], '\n') + 1
	end := bytes.IndexByte(log[i:], '\n')
	if end < 0 {
		return string(log[start:])
	}
	return string(log[start : i+end])
}

// HasApacheKnobs says o sets one of Apache's MPM or mod_wsgi knobs, which a server that is not
// Apache would silently ignore.
func HasApacheKnobs(o Options) bool {
	return o.MPM != "" || o.Mode != "" || o.StartServers != 0 || o.MinSpareServers != 0 || o.MaxSpareServers != 0 ||
		o.MinSpareThreads != 0 || o.MaxSpareThreads != 0 || o.MaxRequestWorkers != 0 || o.ServerLimit != 0 ||
		o.ThreadsPerChild != 0 || o.MaxConnectionsPerChild != 0 || o.InactivityTimeout != 0
}

// PrepareDir makes a server's directory, one www-data can enter: the workers run as www-data
// when wsgilab runs as root (and then args get the server's option to switch to it).
func PrepareDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	if os.Geteuid() == 0 {
		return CheckTraversable(dir)
	}
	return nil
}
