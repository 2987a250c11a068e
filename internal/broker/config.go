package broker

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Where Debian's rabbitmq-server package puts things. The /usr/sbin wrappers switch to the
// rabbitmq user and /var/lib/rabbitmq, so the private node calls the real script directly.
var (
	serverScript = "/usr/lib/rabbitmq/bin/rabbitmq-server"
	ctlScript    = "/usr/lib/rabbitmq/bin/rabbitmqctl"
)

// How late the management API is. Two settings stack up:
//   - collect_statistics_interval (rabbit, default 5000 ms): how often connections and channels
//     publish their figures (bytes, state) to the broker's core metrics tables;
//   - the management agent copies those tables into what /api/connections returns every
//     "smallest sample interval of the retention policy" seconds (default 5 s), whatever
//     collect_statistics_interval says (rabbit_mgmt_metrics_collector:init/1 in 3.10).
//
// With the defaults a new connection shows up in the API ~5 s late. Both are lowered: the
// sample interval is in whole seconds, so 1 s is the floor; 500 ms for the emitters keeps the
// figures fresh for each 1 s copy. Measured: a connection is listed ~1 s after it opens, and
// leaves the API at once when it closes (deletion is an event, not a sample).
const (
	statsIntervalMS       = 500
	sampleIntervalSeconds = 1
)

// markerEnv is set in the environment of every process of a private node (epmd, beam and
// beam's helpers inherit it). Processes() scans /proc for it, so leftovers can be found even
// for helpers that left the node's process group (erl_child_setup calls setsid).
const markerEnv = "WSGILAB_BROKER"

// nodeConfig is everything that differs between two private nodes.
type nodeConfig struct {
	Node                                         string // wsgilab-<hex>@localhost
	Dir                                          string // the node's own directory (all files below it)
	AMQPPort, ManagementPort, DistPort, EPMDPort int
	AdminUser, AdminPassword                     string
	NotifySocket                                 string // abstract unix socket ("@name") for sd_notify
}

func (c nodeConfig) path(parts ...string) string {
	return filepath.Join(append([]string{c.Dir}, parts...)...)
}

func (c nodeConfig) mnesiaDir() string { return c.path("mnesia") }
func (c nodeConfig) logDir() string    { return c.path("log") }

// logPath is the node's main log: RabbitMQ names it <RABBITMQ_LOG_BASE>/<node>.log.
func (c nodeConfig) logPath() string { return filepath.Join(c.logDir(), c.Node+".log") }

// rabbitmqConf renders rabbitmq.conf (the sysctl-like format read by cuttlefish).
func (c nodeConfig) rabbitmqConf() string {
	lines := []string{
		"# written by wsgilab for a private, throw-away node",
		// Loopback only: nothing of an experiment must be reachable from the network.
		"listeners.tcp.default = 127.0.0.1:" + strconv.Itoa(c.AMQPPort),
		"management.tcp.ip = 127.0.0.1",
		"management.tcp.port = " + strconv.Itoa(c.ManagementPort),
		"collect_statistics_interval = " + strconv.Itoa(statsIntervalMS),
		// All three sections must be given: an empty one crashes the collectors.
		"management.sample_retention_policies.global.minute = " + strconv.Itoa(sampleIntervalSeconds),
		"management.sample_retention_policies.global.hour = 60",
		"management.sample_retention_policies.global.day = 1200",
		"management.sample_retention_policies.basic.minute = " + strconv.Itoa(sampleIntervalSeconds),
		"management.sample_retention_policies.basic.hour = 60",
		"management.sample_retention_policies.detailed.10 = " + strconv.Itoa(sampleIntervalSeconds),
		// default_user/default_pass replace "guest" and are applied only when the node
		// initialises a fresh database, which a private node always does.
		"default_user = " + c.AdminUser,
		"default_pass = " + c.AdminPassword,
		"default_user_tags.administrator = true",
		"default_permissions.configure = .*",
		"default_permissions.read = .*",
		"default_permissions.write = .*",
		// Everything goes to <log>/<node>.log; the console (stdout.log) keeps only what the
		// node prints before its logger is configured (e.g. a port already in use).
		"log.console = false",
		"log.file.level = info",
	}
	return strings.Join(lines, "\n") + "\n"
}

// writeFiles creates the node's directory tree and configuration files. The mnesia dir is
// wiped first: default_user only applies to a fresh database, and a retry after a failed
// boot must not inherit half-initialised state.
func (c nodeConfig) writeFiles() error {
	if err := os.RemoveAll(c.mnesiaDir()); err != nil {
		return err
	}
	for _, d := range []string{c.Dir, c.mnesiaDir(), c.logDir(), c.path("conf.d")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	files := map[string]string{
		"rabbitmq.conf":   c.rabbitmqConf(),
		"enabled_plugins": "[rabbitmq_management].\n",
		// An empty env file stops the node from sourcing /etc/rabbitmq/rabbitmq-env.conf.
		"rabbitmq-env.conf": "",
	}
	for name, content := range files {
		if err := os.WriteFile(c.path(name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// env is the complete environment of the node (and of rabbitmqctl aimed at it). It is built
// from scratch rather than inherited: rabbitmq-env also reads unprefixed variables such as
// SERVER_ERL_ARGS or NODENAME, and anything from the caller's shell would make two runs differ.
func (c nodeConfig) env() []string {
	path := os.Getenv("PATH")
	if path == "" {
		path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	}
	env := []string{
		"PATH=" + path,
		"LANG=C.UTF-8",
		"LC_ALL=C.UTF-8",
		// The Erlang cookie is written to $HOME/.erlang.cookie: keep it in the run dir.
		"HOME=" + c.Dir,
		// Our own epmd, on loopback, on a port of our own: the default one on 4369 would be
		// shared with every other node on the machine and outlive us.
		"ERL_EPMD_PORT=" + strconv.Itoa(c.EPMDPort),
		"ERL_EPMD_ADDRESS=127.0.0.1",
		"ERL_CRASH_DUMP=" + c.path("erl_crash.dump"),
		"RABBITMQ_NODENAME=" + c.Node,
		"RABBITMQ_DIST_PORT=" + strconv.Itoa(c.DistPort),
		// RABBITMQ_DIST_PORT pins the port but the distribution listener binds 0.0.0.0
		// unless told otherwise.
		"RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=-kernel inet_dist_use_interface {127,0,0,1}",
		"RABBITMQ_MNESIA_BASE=" + c.mnesiaDir(),
		"RABBITMQ_LOG_BASE=" + c.logDir(),
		"RABBITMQ_CONFIG_FILE=" + c.path("rabbitmq.conf"),
		// Without these two the node would also read /etc/rabbitmq/conf.d/*.conf and
		// /etc/rabbitmq/advanced.config (the latter need not exist).
		"RABBITMQ_CONFIG_FILES=" + c.path("conf.d"),
		"RABBITMQ_ADVANCED_CONFIG_FILE=" + c.path("advanced.config"),
		"RABBITMQ_CONF_ENV_FILE=" + c.path("rabbitmq-env.conf"),
		"RABBITMQ_ENABLED_PLUGINS_FILE=" + c.path("enabled_plugins"),
		"RABBITMQ_PID_FILE=" + c.path("node.pid"),
		markerEnv + "=" + c.Node,
	}
	return env
}

// serverEnv adds what only the server needs. NOTIFY_SOCKET makes the rabbitmq-server script
// exec the VM instead of running it as a child of a signal-forwarding shell (it believes it
// runs under systemd). Then beam.smp is the process wsgilab started: it inherits the
// parent-death signal (if wsgilab is killed hard, beam dies with it) and SIGTERM reaches it
// directly. As a bonus the node reports its boot progress (STATUS=...) and READY=1.
func (c nodeConfig) serverEnv() []string {
	return append(c.env(), "NOTIFY_SOCKET="+c.NotifySocket)
}

func (c nodeConfig) String() string {
	return fmt.Sprintf("%s (amqp %d, management %d, dist %d, epmd %d, dir %s)",
		c.Node, c.AMQPPort, c.ManagementPort, c.DistPort, c.EPMDPort, c.Dir)
}
