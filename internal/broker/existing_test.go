package broker

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"wsgilab/internal/proc"
)

// Existing against the shared node's URLs: accepted with the admin's credentials (in either
// URL), its vhosts are deleted by Stop, and the broker keeps running.
func TestExistingBroker(t *testing.T) {
	s := shared
	amqpURL := fmt.Sprintf("amqp://%s:%s@127.0.0.1:%d/", s.AdminUser, s.AdminPassword, s.AMQPPort)
	mgmtURL := s.ManagementURL()
	b, err := Existing(amqpURL, mgmtURL)
	if err != nil {
		t.Fatal(err)
	}
	if b.Private() || b.Dir != "" || b.LogPath != "" || b.Node != s.Node || b.Processes() != nil || b.Ports() != nil {
		t.Errorf("existing broker %+v", b)
	}
	if b.ManagementURL() != mgmtURL || b.AMQPPort != s.AMQPPort || b.AMQPHost != "127.0.0.1" {
		t.Errorf("URLs: %s %s:%d", b.ManagementURL(), b.AMQPHost, b.AMQPPort)
	}

	ctx := testContext(t, 10*time.Second)
	v, err := b.NewVhost(ctx, "wsgilab-test-existing")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(v.TransportURL(), fmt.Sprintf("@127.0.0.1:%d/", s.AMQPPort)) {
		t.Errorf("transport URL %s", v.TransportURL())
	}
	if _, err := s.Management().GetVhost(v.Name); err != nil {
		t.Errorf("vhost made through Existing not on the node: %v", err)
	}
	if err := b.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Management().GetVhost(v.Name); !isNotFound(err) {
		t.Errorf("Stop of an existing broker left its vhost: %v", err)
	}
	if _, err := s.Management().GetUser(v.User); !isNotFound(err) {
		t.Errorf("Stop of an existing broker left its user: %v", err)
	}
	if _, err := s.Management().Whoami(); err != nil {
		t.Errorf("Stop of an existing broker stopped it: %v", err)
	}
	if _, err := b.NewVhost(ctx, "wsgilab-test-after-stop"); err == nil {
		t.Error("NewVhost after Stop succeeded")
	}

	// Management credentials in the management URL win over the AMQP URL's.
	withCreds := fmt.Sprintf("http://%s:%s@127.0.0.1:%d", s.AdminUser, s.AdminPassword, s.ManagementPort)
	if _, err := Existing(fmt.Sprintf("amqp://127.0.0.1:%d", s.AMQPPort), withCreds); err != nil {
		t.Errorf("credentials in the management URL: %v", err)
	}
}

func TestExistingRejects(t *testing.T) {
	s := shared
	const secret = "sekret-pw"
	good := fmt.Sprintf("amqp://%s:%s@127.0.0.1:%d/", s.AdminUser, s.AdminPassword, s.AMQPPort)
	freePort, err := proc.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, amqpURL, mgmtURL, want string
	}{
		{"bad password", fmt.Sprintf("amqp://%s:%s@127.0.0.1:%d/", s.AdminUser, secret, s.AMQPPort), s.ManagementURL(), "wrong user or password"},
		{"unknown user", fmt.Sprintf("amqp://nobody:%s@127.0.0.1:%d/", secret, s.AMQPPort), s.ManagementURL(), "wrong user or password"},
		{"unparsable amqp", "amqp://admin:" + secret + "@[::1", s.ManagementURL(), "not an AMQP URL"},
		{"no scheme", "127.0.0.1:5672", s.ManagementURL(), "not an AMQP URL"},
		{"other scheme", "http://127.0.0.1:5672/", s.ManagementURL(), "not an AMQP URL"},
		{"tls", "amqps://u:" + secret + "@127.0.0.1:5671/", s.ManagementURL(), "only amqp://"},
		{"management without scheme", good, fmt.Sprintf("127.0.0.1:%d", s.ManagementPort), "--management"},
		{"management https", good, fmt.Sprintf("https://127.0.0.1:%d/", s.ManagementPort), "https is not supported"},
		{"management with path", good, s.ManagementURL() + "api/", "not a path"},
		{"management unparsable", good, "http://u:" + secret + "@[::1", "not a URL"},
		{"management not listening", good, fmt.Sprintf("http://127.0.0.1:%d/", freePort[0]), "does not answer"},
		{"amqp not listening", fmt.Sprintf("amqp://%s:%s@127.0.0.1:%d/", s.AdminUser, s.AdminPassword, freePort[0]), s.ManagementURL(), "AMQP port"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Existing(c.amqpURL, c.mgmtURL)
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not say %q", err, c.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error shows the password: %v", err)
			}
		})
	}
}
