// Package testsupport holds what the real-stack tests of several packages need alike: run
// directories Apache's www-data children can enter, a private broker per test, and one private
// broker shared by a package's tests (Main, SharedBroker, Vhost).
//
// These helpers fail, never skip, when the stack is not installed: a skipped real-stack test
// would hide exactly the breakage it is for. (The broker package's own tests cannot use this
// package, which imports broker; they have their own TestMain of the same shape.)
package testsupport

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"wsgilab/internal/broker"
	"wsgilab/internal/proc"
)

// Dir is a fresh directory that www-data can traverse (t.TempDir's parent is 0700), removed
// when the test ends.
func Dir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "wsgilab-test-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	proc.RemoveOnKill(dir) // a test binary killed outright runs no Cleanup
	return dir
}

// BrokerFlags are the command-line flags that point a wsgilab command at b as an existing
// broker (--broker and --management, with b's administrator's credentials).
func BrokerFlags(b *broker.Broker) []string {
	return []string{
		"--broker", fmt.Sprintf("amqp://%s:%s@127.0.0.1:%d/", b.AdminUser, b.AdminPassword, b.AMQPPort),
		"--management", fmt.Sprintf("http://%s:%s@127.0.0.1:%d/", b.AdminUser, b.AdminPassword, b.ManagementPort),
	}
}

// Broker starts a private RabbitMQ node for the test; it fails the test (never skips) when the
// stack is not installed, and is stopped when the test ends (a failed stop fails the test: it
// may have left processes behind).
func Broker(t testing.TB, ctx context.Context) *broker.Broker {
	t.Helper()
	b, err := broker.StartPrivate(ctx, filepath.Join(t.TempDir(), "broker"))
	if err != nil {
		t.Fatalf("private broker (the stack must be installed: bash scripts/install-stack.sh): %v", err)
	}
	t.Cleanup(func() {
		if err := b.Stop(); err != nil {
			t.Errorf("stopping the private broker: %v", err)
		}
	})
	return b
}

// shared is the node Main started, nil outside Main.
var shared *broker.Broker

// Main runs a package's tests around one private RabbitMQ node that they share (each test
// takes its own vhost on it with Vhost, or the node itself with SharedBroker): starting a node
// per test would cost seconds each. Use it as the package's TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(testsupport.Main(m)) }
//
// Main prints the node's start-up time, runs the tests, stops the node, and fails (returns a
// non-zero code) when the node does not start or stop, or when any process started through
// package proc is still registered once the tests are done: a test that leaks Apache, a
// conductor or a broker fails the package.
func Main(m *testing.M) int {
	code := broker.WithPrivate(func(b *broker.Broker) int {
		shared = b
		defer func() { shared = nil }()
		return m.Run()
	})
	if left := proc.Running(); len(left) > 0 {
		for _, p := range left {
			fmt.Fprintf(os.Stderr, "FAIL: left running: %s (pid %d)\n", p.Name, p.PID)
		}
		code = 1
	}
	return code
}

// SharedBroker is the node Main started for the package's tests. It fails the test when the
// package's TestMain does not call Main.
func SharedBroker(t testing.TB) *broker.Broker {
	t.Helper()
	if shared == nil {
		t.Fatal("no shared broker: the package's TestMain must run the tests with testsupport.Main")
	}
	return shared
}

// Vhost creates vhost name (and its user) on the shared broker, deleted when the test ends.
// Names must be unique among the package's tests that run at once.
func Vhost(t testing.TB, name string) *broker.Vhost {
	t.Helper()
	b := SharedBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	v, err := b.NewVhost(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := v.Delete(ctx); err != nil {
			t.Errorf("deleting vhost %s: %v", name, err)
		}
	})
	return v
}
