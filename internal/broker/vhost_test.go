package broker

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

func TestVhostURLs(t *testing.T) {
	v := &Vhost{Name: "cell/1 a", User: "cell/1 a", Password: "p@ss:w/rd", Host: "127.0.0.1", AMQPPort: 5672}
	if got, want := v.TransportURL(), "rabbit://cell%2F1%20a:p%40ss%3Aw%2Frd@127.0.0.1:5672/cell%2F1%20a"; got != want {
		t.Errorf("TransportURL\n got %s\nwant %s", got, want)
	}
	if !strings.HasPrefix(v.AMQPURL(), "amqp://") {
		t.Errorf("AMQPURL %s", v.AMQPURL())
	}
	// What a client parses back is what we created.
	u, err := amqp.ParseURI(v.AMQPURL())
	if err != nil {
		t.Fatal(err)
	}
	if u.Vhost != v.Name || u.Username != v.User || u.Password != v.Password || u.Port != 5672 {
		t.Errorf("parsed back as %+v", u)
	}
	root := &Vhost{Name: "/", User: "u", Password: "p", Host: "127.0.0.1", AMQPPort: 1}
	if got := root.TransportURL(); got != "rabbit://u:p@127.0.0.1:1/%2F" {
		t.Errorf("vhost / as %s", got)
	}
}

// A cell's user can open its own vhost and no other one; a vhost name with a slash and a space
// survives the URL.
func TestVhostIsolation(t *testing.T) {
	a := newTestVhost(t, shared, "wsgilab-test-iso/a b")
	b := newTestVhost(t, shared, "wsgilab-test-iso-b")

	conn, err := amqp.Dial(a.AMQPURL())
	if err != nil {
		t.Fatalf("user of %q cannot open it: %v", a.Name, err)
	}
	conn.Close()

	cross := *a
	cross.Name = b.Name // a's user and password, b's vhost
	conn, err = amqp.Dial(cross.AMQPURL())
	if err == nil {
		conn.Close()
		t.Fatalf("user %q opened vhost %q", a.User, b.Name)
	}
	// 530 NOT_ALLOWED "access to vhost ... refused": refused by permissions, not by password
	// (a wrong password is 403, and RabbitMQ answers it only after a deliberate ~3 s delay).
	var aerr *amqp.Error
	if !errors.As(err, &aerr) || aerr.Code != amqp.NotAllowed {
		t.Errorf("cross-vhost open refused with %v, want 530 NOT_ALLOWED", err)
	}

	// The vhost user has no management tag: it cannot use the management API.
	if _, err := Existing(a.AMQPURL(), shared.ManagementURL()); err == nil {
		t.Error("a cell user passed as an admin")
	}
}

func TestNewVhostRefusesExistingNames(t *testing.T) {
	ctx := testContext(t, 10*time.Second)
	v := newTestVhost(t, shared, "wsgilab-test-dup")
	if _, err := shared.NewVhost(ctx, v.Name); err == nil {
		t.Error("second NewVhost with the same name succeeded")
	}
	if _, err := shared.NewVhost(ctx, shared.AdminUser); err == nil {
		t.Error("NewVhost named like the admin user succeeded")
	}
	if _, err := shared.NewVhost(ctx, ""); err == nil {
		t.Error("empty name accepted")
	}
}

func TestVhostDelete(t *testing.T) {
	ctx := testContext(t, 10*time.Second)
	v, err := shared.NewVhost(ctx, "wsgilab-test-delete")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := amqp.Dial(v.AMQPURL())
	if err != nil {
		t.Fatal(err)
	}
	closed := conn.NotifyClose(make(chan *amqp.Error, 1))
	if err := v.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	// Deleting the vhost closes its connections.
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Error("connection still open after its vhost was deleted")
	}
	if _, err := shared.Management().GetVhost(v.Name); !isNotFound(err) {
		t.Errorf("vhost after Delete: %v", err)
	}
	if _, err := shared.Management().GetUser(v.User); !isNotFound(err) {
		t.Errorf("user after Delete: %v", err)
	}
	if err := v.Delete(context.Background()); err != nil {
		t.Errorf("second Delete: %v", err)
	}
}
