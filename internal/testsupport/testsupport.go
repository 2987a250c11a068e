// Package testsupport holds what the real-stack tests of several packages need alike: run
// directories Apache's www-data children can enter, and a private broker per test.
package testsupport

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"wsgilab/internal/broker"
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
	return dir
}

// Broker starts a private RabbitMQ node for the test; it fails the test (never skips) when the
// stack is not installed, and is stopped when the test ends.
func Broker(t testing.TB, ctx context.Context) *broker.Broker {
	t.Helper()
	b, err := broker.StartPrivate(ctx, filepath.Join(t.TempDir(), "broker"))
	if err != nil {
		t.Fatalf("private broker (the stack must be installed: bash scripts/install-stack.sh): %v", err)
	}
	t.Cleanup(func() { b.Stop() })
	return b
}
