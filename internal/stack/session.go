package stack

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"wsgilab/internal/apache"
	"wsgilab/internal/broker"
	"wsgilab/internal/proc"
	"wsgilab/internal/server"
)

// SessionConfig is what `wsgilab up` brings up: one cell and its broker.
type SessionConfig struct {
	Options Options
	// BrokerURL and ManagementURL select an existing broker (amqp://user:pass@host:port/ and
	// http://[user:pass@]host:port/); empty starts a private RabbitMQ node in the run dir.
	BrokerURL, ManagementURL string
	// ParentDir is where the run dir is created ("" = the system temp dir).
	ParentDir string
	// Keep leaves the run dir (configs, logs) in place after Stop.
	Keep bool
}

// Session is a running cell with its broker, for manual exploration.
type Session struct {
	Dir    string
	Broker *broker.Broker
	Vhost  *broker.Vhost
	Cell   *Cell
	// BrokerStartup is how long the private node took (0 for an existing broker).
	BrokerStartup time.Duration

	keep bool
}

// Check is everything that can be checked before starting anything: the options, the port,
// the installed packages. `wsgilab up` calls it (through StartSession) so that a bad
// configuration fails in milliseconds with nothing to clean up.
func (sc SessionConfig) Check() error {
	o := sc.Options
	if err := o.Validate(); err != nil {
		return err
	}
	if (sc.BrokerURL == "") != (sc.ManagementURL == "") {
		return errors.New("--broker and --management go together (an existing broker needs both)")
	}
	if o.Port != 0 {
		if err := proc.CheckPortFree(o.Port); err != nil {
			return err
		}
	}
	if _, err := os.Stat(Python); err != nil {
		return fmt.Errorf("%s is missing: install package python3 (bash scripts/install-stack.sh)", Python)
	}
	return nil
}

// StartSession checks sc, creates the run dir, starts or joins the broker, creates the cell's
// vhost and starts the cell. On any error (ctx cancelled included) everything it started is
// stopped and the run dir removed (unless Keep).
func StartSession(ctx context.Context, sc SessionConfig) (_ *Session, err error) {
	if sc.Options.AppPath != "" {
		if sc.Options.AppPath, err = filepath.Abs(sc.Options.AppPath); err != nil {
			return nil, err
		}
	}
	if err := sc.Check(); err != nil {
		return nil, err
	}
	parent := sc.ParentDir
	if parent == "" {
		parent = os.TempDir()
	}
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(parent, "wsgilab-up-")
	if err != nil {
		return nil, err
	}
	s := &Session{Dir: dir, keep: sc.Keep}
	if !sc.Keep {
		proc.RemoveOnKill(dir)
	}
	defer func() {
		if err != nil {
			if serr := s.Stop(); serr != nil {
				err = errors.Join(err, serr)
			}
		}
	}()
	// Apache's www-data children must reach the mod_wsgi sockets below it.
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	if os.Geteuid() == 0 {
		if err := server.CheckTraversable(dir); err != nil {
			return nil, err
		}
	}

	if sc.BrokerURL != "" {
		s.Broker, err = broker.Existing(sc.BrokerURL, sc.ManagementURL)
	} else {
		t0 := time.Now()
		s.Broker, err = broker.StartPrivate(ctx, dir)
		s.BrokerStartup = time.Since(t0)
	}
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.Vhost, err = s.Broker.NewVhost(ctx, "wsgilab-up-"+randomHex(4))
	if err != nil {
		return nil, err
	}
	s.Cell, err = Start(ctx, filepath.Join(dir, "cell"), s.Vhost, sc.Options)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Stop tears the session down: the cell, the vhost (on an existing broker; a private node goes
// whole), the broker, then the run dir unless Keep. Safe on a half-started session.
func (s *Session) Stop() error {
	var errs []error
	if s.Cell != nil {
		errs = append(errs, s.Cell.Stop())
	}
	if s.Broker != nil {
		// Broker.Stop deletes the vhosts it created on an existing broker, stops a private one.
		errs = append(errs, s.Broker.Stop())
	}
	if !s.keep && s.Dir != "" {
		errs = append(errs, os.RemoveAll(s.Dir))
	}
	return errors.Join(errs...)
}

// Describe prints what a user exploring the session needs: URLs, credentials, logs, PIDs,
// and what the server says it runs (for Apache, the loaded MPM as `apachectl -M` shows it).
func (s *Session) Describe(w io.Writer) {
	c, o := s.Cell, s.Cell.Options
	fmt.Fprintf(w, "Service     %s/\n", c.URL())
	if c.FakeService {
		fmt.Fprintf(w, "  %-36s cheap, never touches the broker\n", c.URL()+"/")
		fmt.Fprintf(w, "  %-36s RPC cast (fire and forget)\n", c.URL()+"/cast")
		fmt.Fprintf(w, "  %-36s RPC call answered by the conductor\n", c.URL()+"/call")
		fmt.Fprintf(w, "  %-36s JSON: pid, load times, heartbeat thread kind, AMQP connections\n", c.URL()+"/status")
	} else {
		fmt.Fprintf(w, "  app       %s\n", c.AppPath)
	}
	hb := o.Heartbeat
	if hb == "" {
		hb = "green"
	}
	fmt.Fprintf(w, "  settings  heartbeat %s, monkey_patch %v%s\n", hb, o.MonkeyPatch, timeoutNote(o))
	srv := c.Server
	fmt.Fprintf(w, "%-11s %s\n", srv.Kind(), srv.Loaded())
	fmt.Fprintf(w, "  workers   %s\n", workersLine(srv.Kind(), o))
	if st := srv.StatusURL(); st != "" {
		fmt.Fprintf(w, "  status    %s?auto\n", st)
	}
	if cf, ok := srv.(interface{ ConfPath() string }); ok {
		fmt.Fprintf(w, "  config    %s\n", cf.ConfPath())
	}
	fmt.Fprintf(w, "  log       %s\n", srv.Log())
	if a := srv.AccessLog(); a != "" {
		fmt.Fprintf(w, "  access    %s\n", a)
	}
	fmt.Fprintf(w, "  pids      %s\n", pidRoles(srv))
	b := s.Broker
	fmt.Fprintf(w, "RabbitMQ    management UI %s (user %s, password %s)\n", b.ManagementURL(), b.AdminUser, b.AdminPassword)
	fmt.Fprintf(w, "  vhost     %s (user %s, password %s)\n", s.Vhost.Name, s.Vhost.User, s.Vhost.Password)
	fmt.Fprintf(w, "  transport %s\n", s.Vhost.TransportURL())
	if b.LogPath != "" {
		fmt.Fprintf(w, "  log       %s\n", b.LogPath)
	}
	fmt.Fprintf(w, "Conductor   pid %d, log %s\n", c.ConductorPID(), c.ConductorLog)
	fmt.Fprintf(w, "Run dir     %s\n", s.Dir)
}

func timeoutNote(o Options) string {
	if o.Heartbeat == "off" {
		return ""
	}
	t := o.HeartbeatTimeout
	if t == 0 {
		t = 60
	}
	return fmt.Sprintf(", heartbeat_timeout_threshold %ds", t)
}

// workersLine says what runs the app: mod_wsgi's mode for Apache, processes x threads and the
// server's own knobs otherwise.
func workersLine(kind string, o Options) string {
	if kind != apache.Kind {
		s := fmt.Sprintf("%d process(es) x %d thread(s)", max(o.Processes, 1), max(o.Threads, 1))
		if o.Worker != "" {
			s += ", worker class " + o.Worker
		}
		if o.EnableThreads {
			s += ", Python threads enabled"
		}
		if o.LazyApps {
			s += ", lazy-apps"
		}
		if o.Preload {
			s += ", preloaded"
		}
		return s
	}
	if o.Mode != "daemon" {
		return "embedded mode (processes and threads from the MPM)"
	}
	s := fmt.Sprintf("daemon mode, %d process(es) x %d thread(s)", o.Processes, o.Threads)
	if o.Preload {
		s += ", preloaded"
	}
	if o.InactivityTimeout > 0 {
		s += fmt.Sprintf(", inactivity-timeout %ds", o.InactivityTimeout)
	}
	return s
}

func pidRoles(a server.Server) string {
	byRole := map[string][]string{}
	for _, p := range a.Processes() {
		byRole[p.Role] = append(byRole[p.Role], fmt.Sprint(p.PID))
	}
	var parts []string
	for _, r := range []string{server.RoleParent, server.RoleChild, server.RoleDaemon, server.RoleWorker} {
		if len(byRole[r]) > 0 {
			parts = append(parts, r+" "+strings.Join(byRole[r], ","))
		}
	}
	return strings.Join(parts, "; ")
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
