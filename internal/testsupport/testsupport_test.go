package testsupport

import (
	"context"
	"os"
	"testing"
	"time"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

// Dir is traversable by other users and gone after the test.
func TestDir(t *testing.T) {
	var dir string
	t.Run("use", func(t *testing.T) {
		dir = Dir(t)
		st, err := os.Stat(dir)
		if err != nil || st.Mode().Perm() != 0o755 {
			t.Fatalf("%s: %v %v", dir, st.Mode(), err)
		}
	})
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%s left after the test: %v", dir, err)
	}
}

// Vhost is on the node Main started, usable, and deleted (with its user) when its test ends.
func TestSharedVhost(t *testing.T) {
	b := SharedBroker(t)
	if !b.Private() || b.StartupTime <= 0 {
		t.Fatalf("shared broker: private %v, startup %v", b.Private(), b.StartupTime)
	}
	const name = "testsupport-vhost"
	t.Run("use", func(t *testing.T) {
		v := Vhost(t, name)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if conns, err := b.Connections(ctx, v.Name); err != nil || len(conns) != 0 {
			t.Errorf("connections of a new vhost: %v %v", conns, err)
		}
	})
	if _, err := b.Management().GetVhost(name); err == nil {
		t.Errorf("vhost %s left after its test", name)
	}
	if _, err := b.Management().GetUser(name); err == nil {
		t.Errorf("user %s left after its test", name)
	}
}
