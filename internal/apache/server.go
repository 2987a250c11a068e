package apache

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"wsgilab/internal/observe"
	"wsgilab/internal/proc"
	"wsgilab/internal/server"
)

// StopGrace is how long Stop lets Apache shut its children and mod_wsgi daemons down after
// SIGTERM before the whole process group is killed. Measured here: a clean stop takes
// 0.4-1.5 s; mod_wsgi daemons stuck at "Terminating Python" (eventlet monkey-patched app) are
// killed by mod_wsgi after ~3 s; MPM children stuck there in embedded mode get SIGTERM again
// at 3, 5 and 7 s and SIGKILL only at ~9 s (AH00045/AH00046), which made teardown 11-12 s.
// Nothing useful happens in a process stuck in Python's finalisation, so 4 s keeps the clean
// cases clean and cuts the stuck ones short. (Stop also cuts finalisation itself short: see
// watchFinalisation.)
var StopGrace = 4 * time.Second

// Server is a running Apache instance.
type Server struct {
	cfg       Config
	p         *proc.Process
	loadedMPM string
	// ownSocketDir is the short socket dir Start made (see Config.SocketDir), removed by Stop.
	ownSocketDir string

	stopOnce sync.Once
	stopErr  error
	// cut lists the processes Stop killed in Python's finalisation (watchFinalisation).
	cutMu sync.Mutex
	cut   []int
}

// Start validates c, writes its httpd.conf, checks it with `apache2 -t`, starts Apache in the
// foreground in its own process group and returns once the port is open, /server-status
// answers with the configured MPM and the app answers c.ReadyPath (below 500). On any error
// nothing it started is left running; an app that raises at import is reported with its
// exception line from the error log.
func Start(ctx context.Context, c Config) (_ *Server, err error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if err := CheckInstalled(c.MPM); err != nil {
		return nil, err
	}
	for _, d := range []string{c.Dir, c.runDir(), c.logDir()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
		// os.MkdirTemp and t.TempDir make 0700 directories; www-data must get in to reach the
		// mod_wsgi daemon sockets under run/.
		if err := os.Chmod(d, 0o755); err != nil {
			return nil, err
		}
	}
	if os.Geteuid() == 0 {
		if err := server.CheckTraversable(c.Dir); err != nil {
			return nil, err
		}
	}
	ownSocketDir := ""
	if c.SocketDir == "" && c.daemon() && !socketPathFits(c.socketPrefix()) {
		sd, err := os.MkdirTemp("", "wsgilab-sock-")
		if err != nil {
			return nil, err
		}
		if err := os.Chmod(sd, 0o755); err != nil {
			os.RemoveAll(sd)
			return nil, err
		}
		c.SocketDir, ownSocketDir = sd, sd
		proc.RemoveOnKill(sd)
		defer func() {
			if err != nil {
				os.RemoveAll(sd)
			}
		}()
	}
	conf, err := Render(c)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(c.confPath(), []byte(conf), 0o644); err != nil {
		return nil, err
	}
	if err := proc.CheckPortFree(c.Port); err != nil {
		return nil, err
	}
	mpm, err := configTest(ctx, c)
	if err != nil {
		return nil, err
	}

	cmd := exec.Command(Binary, "-f", c.confPath(), "-DFOREGROUND")
	cmd.Dir = c.Dir
	cmd.Env = environ(c.Env)
	p, err := proc.Start("apache2", cmd, c.stdoutLog())
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: c, p: p, loadedMPM: mpm, ownSocketDir: ownSocketDir}
	defer func() {
		if err != nil {
			if serr := s.Stop(); serr != nil {
				err = errors.Join(err, serr)
			}
		}
	}()
	if err := proc.WaitListening(ctx, c.Port, p); err != nil {
		return nil, fmt.Errorf("apache2 did not start: %v%s", err, s.logTails())
	}
	if err := s.waitReady(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// CheckInstalled reports, naming the Debian package, a missing apache2 binary or module.
func CheckInstalled(mpm string) error {
	need := []struct{ path, pkg string }{
		{Binary, "apache2-bin"},
		{filepath.Join(ModulesDir, "mod_mpm_"+mpm+".so"), "apache2-bin"},
		{filepath.Join(ModulesDir, "mod_status.so"), "apache2-bin"},
		{filepath.Join(ModulesDir, "mod_wsgi.so"), "libapache2-mod-wsgi-py3"},
	}
	for _, n := range need {
		if _, err := os.Stat(n.path); err != nil {
			return fmt.Errorf("%s is missing: install package %s (bash scripts/install-stack.sh)", n.path, n.pkg)
		}
	}
	return nil
}

// environ is Apache's whole environment: env plus defaults for PATH and LANG.
func environ(env []string) []string {
	out := []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"}
	set := map[string]int{"PATH": 0, "LANG": 1}
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if i, ok := set[k]; ok {
			out[i] = kv
			continue
		}
		set[k] = len(out)
		out = append(out, kv)
	}
	return out
}

var mpmModuleRE = regexp.MustCompile(`(?m)^\s*(mpm_\w+_module \(\w+\))\s*$`)

// configTest runs `apache2 -t -D DUMP_MODULES` on the written configuration (a syntax check
// that also lists the loaded modules, as `apachectl -M` does) and returns the MPM module line.
func configTest(ctx context.Context, c Config) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, Binary, "-t", "-D", "DUMP_MODULES", "-f", c.confPath())
	cmd.Dir = c.Dir
	cmd.Env = environ(c.Env)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("apache2 -t -f %s failed (%v):\n%s", c.confPath(), err, strings.TrimSpace(string(out)))
	}
	m := mpmModuleRE.FindSubmatch(out)
	if m == nil {
		return "", fmt.Errorf("apache2 -M on %s lists no MPM module:\n%s", c.confPath(), out)
	}
	return string(m[1]), nil
}

// waitReady polls /server-status?auto (Apache is up, and with the configured MPM) and then
// the app until it answers.
func (s *Server) waitReady(ctx context.Context) error {
	client := server.NewClient(0)
	get := func(path string) (int, []byte, error) {
		req, err := http.NewRequestWithContext(ctx, "GET", s.URL()+path, nil)
		if err != nil {
			return 0, nil, err
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return resp.StatusCode, body, err
	}
	retry := func(what string, last error) error {
		if exited, werr := s.p.Exited(); exited {
			return fmt.Errorf("apache2 exited while starting (%v)%s", werr, s.logTails())
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w (last: %v)%s", what, ctx.Err(), last, s.logTails())
		case <-time.After(50 * time.Millisecond):
			return nil
		}
	}

	for {
		code, body, err := get("/server-status?auto")
		if err == nil && code == http.StatusOK {
			want := "ServerMPM: " + s.cfg.MPM
			if !bytes.Contains(body, []byte(want)) {
				return fmt.Errorf("server-status does not report %q, the MPM we configured:\n%s", want, body)
			}
			break
		}
		if err == nil {
			err = fmt.Errorf("HTTP %d", code)
		}
		if rerr := retry(s.StatusURL(), err); rerr != nil {
			return rerr
		}
	}

	path := s.cfg.ReadyPath
	if path == "" {
		path = "/"
	}
	for {
		code, body, err := get(path)
		switch {
		case err == nil && code < 500:
			return nil
		case err == nil && code != http.StatusServiceUnavailable:
			// 500: the app raised, most often at import; mod_wsgi logged the traceback.
			if msg := s.AppError(); msg != "" {
				return fmt.Errorf("app %s failed: %s (HTTP %d; see %s)", s.cfg.AppPath, msg, code, s.ErrorLog())
			}
			return fmt.Errorf("app %s answered HTTP %d to GET %s: %s (see %s)", s.cfg.AppPath, code, path,
				strings.TrimSpace(string(body)), s.ErrorLog())
		case err == nil:
			// 503: a mod_wsgi daemon is not accepting yet; keep waiting, unless mod_wsgi
			// already said it cannot run one (an alert: socket bind failed, fork failed).
			if alert := s.wsgiAlert(); alert != "" {
				return fmt.Errorf("mod_wsgi cannot start its daemon processes: %s (see %s)", alert, s.ErrorLog())
			}
			err = fmt.Errorf("HTTP %d", code)
		}
		if rerr := retry(s.URL()+path, err); rerr != nil {
			return rerr
		}
	}
}

// wsgiAlert returns the first [wsgi:alert] or [wsgi:emerg] message of the error log, "" when
// there is none.
func (s *Server) wsgiAlert() string {
	b, err := os.ReadFile(s.ErrorLog())
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, "[wsgi:alert]") || strings.Contains(line, "[wsgi:emerg]") {
			return logPrefixRE.ReplaceAllString(line, "")
		}
	}
	return ""
}

var logPrefixRE = regexp.MustCompile(`^\[[^\]]*\] \[[^\]]*\] \[pid [^\]]*\](?: \[client [^\]]*\]| \[remote [^\]]*\])? ?`)

// AppError returns the last Python exception mod_wsgi logged in the error log, as
// "Type: message" (e.g. "RuntimeError: boom"), or "" when there is none. mod_wsgi writes a
// traceback one line per log entry, each with Apache's prefix.
func (s *Server) AppError() string {
	f, err := os.Open(s.ErrorLog())
	if err != nil {
		return ""
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if strings.Contains(sc.Text(), "[wsgi:error]") {
			lines = append(lines, logPrefixRE.ReplaceAllString(sc.Text(), ""))
		}
	}
	last := -1
	for i, l := range lines {
		if strings.HasPrefix(l, "Traceback (most recent call last):") {
			last = i
		}
	}
	if last < 0 {
		return ""
	}
	// Frames are indented; the first unindented line after them is the exception.
	for _, l := range lines[last+1:] {
		if l != "" && !strings.HasPrefix(l, " ") {
			return strings.TrimSpace(l)
		}
	}
	return ""
}

// logTails returns the end of Apache's stdout/stderr capture and of its error log, for error
// messages about a server that would not start.
func (s *Server) logTails() string {
	var b strings.Builder
	for _, path := range []string{s.cfg.stdoutLog(), s.ErrorLog()} {
		data, err := os.ReadFile(path)
		if err != nil || len(bytes.TrimSpace(data)) == 0 {
			continue
		}
		lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
		if len(lines) > 15 {
			lines = lines[len(lines)-15:]
		}
		fmt.Fprintf(&b, "\n--- %s:\n%s", path, strings.Join(lines, "\n"))
	}
	return b.String()
}

// logFile is the error log as internal/observe reads it.
func (c Config) logFile() observe.LogFile {
	return observe.LogFile{Path: c.errorLog(), Source: Kind, Format: observe.FormatApache}
}

// Stop ends Apache: SIGTERM to the parent, which stops its children and mod_wsgi daemons; a
// process that has logged mod_wsgi's "Terminating Python" is killed at once (watchFinalisation);
// after StopGrace, SIGKILL to the children still there, which the parent then reaps before
// exiting itself; SIGKILL to the whole group only if the parent is still there 3 s later. It
// returns when every process of the group is gone and the port is free. Safe to call more
// than once.
//
// Killing the children rather than the group keeps them from becoming orphans: an orphan's
// zombie waits for PID 1 to reap it, which took 1.5-2 s on the test machines.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		done := make(chan struct{})
		var from int64
		if fi, err := os.Stat(s.cfg.errorLog()); err == nil {
			from = fi.Size()
		}
		var wg sync.WaitGroup
		wg.Go(func() { s.watchFinalisation(from, done) })
		go func() {
			select {
			case <-done:
			case <-time.After(StopGrace):
				for _, pid := range proc.GroupMembers(s.p.PID) {
					if pid != s.p.PID {
						_ = syscall.Kill(pid, syscall.SIGKILL)
					}
				}
			}
		}()
		err := s.p.Stop(syscall.SIGTERM, StopGrace+3*time.Second)
		close(done)
		wg.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.stopErr = errors.Join(err, proc.WaitPortsFree(ctx, s.cfg.Port))
		if s.ownSocketDir != "" {
			os.RemoveAll(s.ownSocketDir)
		}
	})
	return s.stopErr
}

// terminatingPython is the line mod_wsgi logs in a child or daemon process once it has stopped
// serving, before Python's finalisation (Py_Finalize: atexit handlers, then every module and
// object torn down).
var terminatingPython = observe.Rule{Name: "wsgi_python_terminate", Side: observe.SideClient, Kind: observe.KindInfo,
	Pattern: regexp.MustCompile(`mod_wsgi \(pid=\d+\): Terminating Python\.`),
	Why:     "mod_wsgi finalises Python in a process that has served its last request"}

// finalisationPoll is how often Stop reads the error log for terminatingPython.
const finalisationPoll = 20 * time.Millisecond

// watchFinalisation follows the error log from offset from until done, and kills every process
// of the group that logs terminatingPython. Python's finalisation is CPU work: measured, 0.2 s
// per process that loaded the fake service (its eventlet and oslo.messaging modules) when
// alone, and 3.3 s for the whole teardown when a prefork cell's 25 children and an event cell's
// 4 finalised at once on 2 cores, which is most of a throughput run's teardown. The process has
// served its last request by then, and a lab run needs none of what finalisation does (the
// fake service registers no atexit handler; a socket still open is closed by the kernel all the
// same), so it is cut short. Cut processes are listed by FinalisationCut.
func (s *Server) watchFinalisation(from int64, done <-chan struct{}) {
	lf := s.cfg.logFile()
	lf.Offset = from
	tail := observe.NewLogTail("finalisation", lf)
	tail.Rules = []observe.Rule{terminatingPython}
	defer tail.Close()
	tick := time.NewTicker(finalisationPoll)
	defer tick.Stop()
	for {
		_, events, _ := tail.Sample(context.Background(), time.Now())
		for _, e := range events {
			// Only a live member of the group other than the parent: never a PID reused since,
			// nor one that has finished on its own.
			pid := e.Fields.PID
			if pid != s.p.PID && proc.LiveMember(pid, s.p.PID) && syscall.Kill(pid, syscall.SIGKILL) == nil {
				s.cutMu.Lock()
				s.cut = append(s.cut, pid)
				s.cutMu.Unlock()
			}
		}
		select {
		case <-done:
			return
		case <-tick.C:
		}
	}
}

// FinalisationCut lists the processes Stop killed in Python's finalisation (after their
// "Terminating Python" line), in the order it killed them.
func (s *Server) FinalisationCut() []int {
	s.cutMu.Lock()
	defer s.cutMu.Unlock()
	return slices.Clone(s.cut)
}

// PID is the Apache parent's PID (the process group leader).
func (s *Server) PID() int { return s.p.PID }

// PIDs lists the parent and every live process below it (MPM children, mod_wsgi daemons).
func (s *Server) PIDs() []int {
	if exited, _ := s.p.Exited(); exited {
		return proc.GroupMembers(s.p.PID)
	}
	return append([]int{s.p.PID}, proc.Descendants(s.p.PID)...)
}

// Process is one process of the instance: its role is server.RoleParent, RoleChild (an MPM
// child serving connections) or RoleDaemon (a mod_wsgi daemon process).
type Process = server.Process

// Processes lists the instance's processes with their roles; mod_wsgi daemons are told by
// their process title "(wsgi:wsgilab)" (display-name=%{GROUP}).
func (s *Server) Processes() []Process {
	var out []Process
	for _, pid := range s.PIDs() {
		role := server.RoleChild
		if pid == s.p.PID {
			role = server.RoleParent
		} else if b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline"); err == nil &&
			bytes.HasPrefix(b, []byte("(wsgi:")) {
			role = server.RoleDaemon
		}
		out = append(out, Process{PID: pid, Role: role})
	}
	return out
}

// Config is the configuration the server was started with.
func (s *Server) Config() Config { return s.cfg }

// URL is the server's base URL, e.g. http://127.0.0.1:8080.
func (s *Server) URL() string { return "http://127.0.0.1:" + strconv.Itoa(s.cfg.Port) }

// StatusURL is mod_status's page (append ?auto for the machine-readable form).
func (s *Server) StatusURL() string { return s.URL() + "/server-status" }

// ConfPath is the rendered httpd.conf.
func (s *Server) ConfPath() string { return s.cfg.confPath() }

// ErrorLog is Apache's error log: mod_wsgi's process and interpreter lines and the app's
// stderr (its oslo.messaging/kombu logging) land there.
func (s *Server) ErrorLog() string { return s.cfg.errorLog() }

// AccessLog is the access log, in AccessLogFormat.
func (s *Server) AccessLog() string { return s.cfg.accessLog() }

// LoadedMPM is the MPM module line as `apachectl -M` prints it, e.g.
// "mpm_event_module (shared)", from `apache2 -M` on the server's own configuration (and
// checked against the running server's /server-status at start).
func (s *Server) LoadedMPM() string { return s.loadedMPM }

// Kind is "apache".
func (s *Server) Kind() string { return Kind }

// Port is the port Apache listens on.
func (s *Server) Port() int { return s.cfg.Port }

// AppRole is the role of the processes that run the app: the MPM children in embedded mode,
// the mod_wsgi daemon processes in daemon mode.
func (s *Server) AppRole() string {
	if s.cfg.daemon() {
		return server.RoleDaemon
	}
	return server.RoleChild
}

// Log is Apache's error log: mod_wsgi's process and interpreter lines and the app's stderr.
func (s *Server) Log() string { return s.ErrorLog() }

// LogFormat is Apache's error log layout.
func (s *Server) LogFormat() observe.Format { return observe.FormatApache }

// Loaded is the MPM module line as `apachectl -M` prints it (LoadedMPM).
func (s *Server) Loaded() string { return s.loadedMPM }
