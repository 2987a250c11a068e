package apache

import (
	"context"
	"errors"
	"fmt"

	"wsgilab/internal/observe"
	"wsgilab/internal/server"
)

// Kind is Apache's name among the servers.
const Kind = "apache"

// Launcher starts Apache + mod_wsgi cells (server.Launcher).
type Launcher struct{}

func (Launcher) Kind() string { return Kind }

// Check reports MPM and mod_wsgi knobs that Apache would refuse or silently ignore, the other
// servers' knobs, and a missing apache2 or module.
func (Launcher) Check(o server.Options) error {
	var errs []error
	if o.EnableThreads || o.LazyApps {
		errs = append(errs, errors.New("enable-threads and lazy-apps are uWSGI options, not Apache's"))
	}
	if o.Worker != "" {
		errs = append(errs, fmt.Errorf("worker class %q is a gunicorn option, not Apache's", o.Worker))
	}
	c := config(server.Config{Options: o})
	if err := c.CheckSettings(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		if err := CheckInstalled(o.MPM); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// CheckApp is CheckApp: the script's path must fit in httpd.conf too.
func (Launcher) CheckApp(path string) error { return CheckApp(path) }

// Start starts Apache with c (see Start).
func (Launcher) Start(ctx context.Context, c server.Config) (server.Server, error) {
	s, err := Start(ctx, config(c))
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Log is Apache's error log under c.Dir.
func (Launcher) Log(c server.Config) observe.LogFile {
	return config(c).logFile()
}

func config(c server.Config) Config {
	o := c.Options
	return Config{
		Dir: c.Dir, Port: c.Port, MPM: o.MPM,
		StartServers: o.StartServers, MinSpareServers: o.MinSpareServers, MaxSpareServers: o.MaxSpareServers,
		MinSpareThreads: o.MinSpareThreads, MaxSpareThreads: o.MaxSpareThreads,
		MaxRequestWorkers: o.MaxRequestWorkers, ServerLimit: o.ServerLimit, ThreadsPerChild: o.ThreadsPerChild,
		MaxConnectionsPerChild: o.MaxConnectionsPerChild,
		Mode:                   o.Mode, Processes: o.Processes, Threads: o.Threads, Preload: o.Preload,
		InactivityTimeout: o.InactivityTimeout,
		AppPath:           c.AppPath, Env: c.Env, ReadyPath: c.ReadyPath,
	}
}
