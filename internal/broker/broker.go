// Package broker provides the RabbitMQ broker of an experiment: either a private node that
// wsgilab starts itself (own node name, own epmd, every port on loopback, every file under the
// run directory, management API with a low statistics interval) or an existing broker given
// by URL. Each cell gets its own vhost and a user allowed on that vhost only, so connections
// of different cells are told apart in the management API.
//
// Where the heartbeat evidence is: when a client stops sending heartbeats, the broker writes
// to its main log (Broker.LogPath, <dir>/rabbitmq/log/<node>.log for a private node), at level
// error, one message that RabbitMQ 3.10 prints as two prefixed lines:
//
//	<ts> [error] <0.845.0> closing AMQP connection <0.845.0> (127.0.0.1:47706 -> 127.0.0.1:33729 - /usr/sbin/apache2:5151:uuid):
//	<ts> [error] <0.845.0> missed heartbeats from client, timeout: 1s
//
// The first line carries the peer port (Connection.ClientPort) and, after " - ", the client's
// connection_name (kombu: "<argv0>:<pid>:<uuid>", see KombuPID); the second has
// MissedHeartbeatsMarker and the negotiated timeout. The same two-line shape, at level
// warning, ends with "client unexpectedly closed TCP connection" when the client drops the
// socket itself. The broker closes 2 to 3 heartbeat intervals after the client's last frame
// (measured: 2.07 s for a 1 s heartbeat).
package broker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	rabbithole "github.com/michaelklishin/rabbit-hole/v2"

	"wsgilab/internal/proc"
)

// MissedHeartbeatsMarker is the text of the broker log line that says it closed a connection
// because the client stopped sending heartbeats (the line before it names the connection).
const MissedHeartbeatsMarker = "missed heartbeats from client"

// apiTimeout bounds one management API request: the API answers in milliseconds on loopback,
// and a hung request must not hang a run.
const apiTimeout = 10 * time.Second

// Broker is one RabbitMQ broker used by a run.
type Broker struct {
	AMQPHost                 string // 127.0.0.1 for a private node
	AMQPPort, ManagementPort int
	AdminUser, AdminPassword string
	Dir                      string        // private node's own dir (data, logs, config); "" for an existing broker
	LogPath                  string        // the node's main log file; "" if unknown (existing broker)
	Node                     string        // Erlang node name, e.g. wsgilab-1a2b3c4d@localhost
	StartupTime              time.Duration // private node: how long its (last) boot attempt took to be ready

	managementURL string // http://host:port/ (no credentials)
	client        *rabbithole.Client

	node *privateNode // nil for an existing broker

	mu      sync.Mutex
	vhosts  map[string]*Vhost // created by NewVhost and not deleted yet
	stopped bool
}

// Management returns a management API client logged in as the admin user. Its requests have
// no context; use it for things this package does not wrap.
func (b *Broker) Management() *rabbithole.Client { return b.client }

// ManagementURL is the management API's base URL, e.g. http://127.0.0.1:PORT/.
func (b *Broker) ManagementURL() string { return b.managementURL }

// Ports lists every loopback port a private node listens on (AMQP, management, Erlang
// distribution, epmd), for leak checks; nil for an existing broker.
func (b *Broker) Ports() []int {
	if b.node == nil {
		return nil
	}
	c := b.node.cfg
	return []int{c.AMQPPort, c.ManagementPort, c.DistPort, c.EPMDPort}
}

// Private reports whether wsgilab started this broker itself.
func (b *Broker) Private() bool { return b.node != nil }

// Stop ends what this Broker owns. For a private node: stop the node and its epmd and return
// once every process is gone and every port is free. For an existing broker: delete the
// vhosts and users created by NewVhost and leave the broker running. Safe to call twice.
func (b *Broker) Stop() error {
	b.mu.Lock()
	if b.stopped {
		b.mu.Unlock()
		return nil
	}
	b.stopped = true
	vhosts := make([]*Vhost, 0, len(b.vhosts))
	for _, v := range b.vhosts {
		vhosts = append(vhosts, v)
	}
	b.mu.Unlock()

	if b.node != nil {
		// The node's database is thrown away with it: no vhost to clean up.
		return b.node.stop()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var errs []error
	for _, v := range vhosts {
		if err := v.Delete(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// api returns a copy of the management client whose requests carry ctx, because rabbit-hole's
// methods take no context and a cancelled run must not wait for a hung request.
func (b *Broker) api(ctx context.Context) *rabbithole.Client {
	c := *b.client
	c.SetTransport(ctxTransport{ctx: ctx, base: http.DefaultTransport})
	return &c
}

type ctxTransport struct {
	ctx  context.Context
	base http.RoundTripper
}

func (t ctxTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	return t.base.RoundTrip(req.WithContext(t.ctx))
}

// newManagementClient builds the rabbit-hole client for base (http://host:port/); rabbit-hole
// appends "/api/..." itself, so the endpoint must not end with a slash.
func newManagementClient(host string, port int, user, password string) (*rabbithole.Client, string, error) {
	base := "http://" + net.JoinHostPort(host, strconv.Itoa(port))
	c, err := rabbithole.NewClient(base, user, password)
	if err != nil {
		return nil, "", fmt.Errorf("management client for %s: %w", base, err)
	}
	c.SetTimeout(apiTimeout)
	return c, base + "/", nil
}

// withPrivateTimeout bounds a shared node's start-up in WithPrivate: it takes seconds, more when
// several test binaries start nodes at once.
const withPrivateTimeout = 90 * time.Second

// WithPrivate starts a private node in a temporary directory, runs f with it, then stops the
// node and removes the directory. It returns f's result, or 1 (said on stderr) when the node
// does not start or stop. It is how a test binary shares one node between its package's tests
// (testsupport.Main, and this package's own TestMain, which cannot import testsupport): a node
// per test would cost seconds each.
func WithPrivate(f func(*Broker) int) int {
	dir, err := os.MkdirTemp("", "wsgilab-shared-broker-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	// A test binary killed outright (go test's timeout, a SIGTERM) runs no defer: the guard,
	// which already kills the node, removes its directory too.
	proc.RemoveOnKill(dir)
	ctx, cancel := context.WithTimeout(context.Background(), withPrivateTimeout)
	b, err := StartPrivate(ctx, dir)
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: the private RabbitMQ node these tests need did not start "+
			"(the stack must be installed: bash scripts/install-stack.sh): %v\n", err)
		return 1
	}
	fmt.Printf("shared broker %s ready in %v (amqp %d, management %d)\n",
		b.Node, b.StartupTime.Round(time.Millisecond), b.AMQPPort, b.ManagementPort)
	code := f(b)
	began := time.Now()
	if err := b.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: stopping the shared broker: %v\n", err)
		return 1
	}
	fmt.Printf("shared broker stopped in %v\n", time.Since(began).Round(time.Millisecond))
	return code
}
