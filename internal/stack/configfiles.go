package stack

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// What a cell writes besides its server's configuration, so that a cell's directory holds the
// whole configuration of the service as a deployment would keep it, and `wsgilab doctor` can
// read a cell's configuration as it reads a real one (the closed loop of internal/doctor).
const (
	// EnvironmentFile (in the cell's stack directory) is the environment the server and the
	// app were started with, one KEY=value a line: the format of systemd's EnvironmentFile=,
	// which is how a deployment hands variables to a uWSGI or gunicorn service (Debian's
	// /etc/apache2/envvars does it for Apache). It holds the vhost's password: mode 0600.
	EnvironmentFile = "environment"
	// OsloConfFile (in the cell's app directory) holds the [oslo_messaging_rabbit] options the
	// fake service applies, in nova.conf's form. The app does not read it: it sets the same
	// options from its WSGILAB_* variables with cfg.CONF.set_override (apps/fakeservice); the
	// file records what that amounts to.
	OsloConfFile = "oslo.conf"
)

// writeConfigFiles writes the cell's environment file in dir and the oslo.messaging options
// of o in appDir.
func writeConfigFiles(dir, appDir string, env []string, o Options) error {
	var b strings.Builder
	b.WriteString("# Written by wsgilab (internal/stack): the environment of this cell's server and app.\n")
	for _, kv := range env {
		b.WriteString(kv + "\n")
	}
	if err := os.WriteFile(filepath.Join(dir, EnvironmentFile), []byte(b.String()), 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(appDir, OsloConfFile), []byte(osloConf(o)), 0o644)
}

// osloConf is what the fake service's import does with its heartbeat variables (app.wsgi sets
// heartbeat_rate always, heartbeat_timeout_threshold 0 for "off", otherwise the timeout and
// heartbeat_in_pthread), in nova.conf's form.
func osloConf(o Options) string {
	var b strings.Builder
	b.WriteString("# Written by wsgilab (internal/stack): the oslo.messaging options the fake service applies in\n" +
		"# this cell (from its WSGILAB_* environment, with cfg.CONF.set_override), as nova.conf would hold them.\n" +
		"[oslo_messaging_rabbit]\n")
	rate := o.HeartbeatRate
	if rate == 0 {
		rate = 2
	}
	fmt.Fprintf(&b, "heartbeat_rate = %d\n", rate)
	if o.Heartbeat == "off" {
		b.WriteString("heartbeat_timeout_threshold = 0\n")
	} else {
		timeout := o.HeartbeatTimeout
		if timeout == 0 {
			timeout = 60
		}
		fmt.Fprintf(&b, "heartbeat_timeout_threshold = %d\n", timeout)
		fmt.Fprintf(&b, "heartbeat_in_pthread = %v\n", o.Heartbeat == "pthread")
	}
	if o.TCPKeepalive > 0 {
		// oslo.messaging has no option for it: the app hands kombu socket_settings itself.
		fmt.Fprintf(&b, "# TCP keepalive: the app sets TCP_KEEPIDLE=%d on its AMQP sockets itself (WSGILAB_TCP_KEEPALIVE).\n", o.TCPKeepalive)
	}
	return b.String()
}
