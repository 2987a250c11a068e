package broker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"

	rabbithole "github.com/michaelklishin/rabbit-hole/v2"
)

// Vhost is one cell's virtual host and the user allowed on it (and on nothing else), so that
// the cell's connections are the only ones listed under it and a misconfigured service cannot
// talk to another cell's queues.
type Vhost struct {
	Name     string
	User     string // same as Name: users and vhosts are separate namespaces in RabbitMQ
	Password string
	Host     string // AMQP host: 127.0.0.1 for a private node
	AMQPPort int

	b *Broker
}

// NewVhost creates vhost name and a user of the same name with full permissions on it only.
// It refuses a name that exists already as a vhost or a user: on an existing broker it would
// belong to someone else.
func (b *Broker) NewVhost(ctx context.Context, name string) (*Vhost, error) {
	if name == "" {
		return nil, errors.New("broker: empty vhost name")
	}
	b.mu.Lock()
	stopped := b.stopped
	b.mu.Unlock()
	if stopped {
		return nil, errors.New("broker: NewVhost after Stop")
	}
	api := b.api(ctx)
	if _, err := api.GetVhost(name); err == nil {
		return nil, fmt.Errorf("vhost %q exists already on %s", name, b.managementURL)
	} else if !isNotFound(err) {
		return nil, fmt.Errorf("looking up vhost %q: %w", name, err)
	}
	if _, err := api.GetUser(name); err == nil {
		return nil, fmt.Errorf("user %q exists already on %s", name, b.managementURL)
	} else if !isNotFound(err) {
		return nil, fmt.Errorf("looking up user %q: %w", name, err)
	}

	v := &Vhost{Name: name, User: name, Password: randomHex(12), Host: b.AMQPHost, AMQPPort: b.AMQPPort, b: b}
	if err := done(api.PutVhost(name, rabbithole.VhostSettings{Description: "wsgilab cell"})); err != nil {
		return nil, fmt.Errorf("creating vhost %q: %w", name, err)
	}
	if err := done(api.PutUser(v.User, rabbithole.UserSettings{Password: v.Password, Tags: rabbithole.UserTags{}})); err != nil {
		_ = done(api.DeleteVhost(name))
		return nil, fmt.Errorf("creating user %q: %w", v.User, err)
	}
	perms := rabbithole.Permissions{Configure: ".*", Write: ".*", Read: ".*"}
	if err := done(api.UpdatePermissionsIn(name, v.User, perms)); err != nil {
		_ = done(api.DeleteUser(v.User))
		_ = done(api.DeleteVhost(name))
		return nil, fmt.Errorf("granting %q permissions on vhost %q: %w", v.User, name, err)
	}
	b.mu.Lock()
	b.vhosts[name] = v
	b.mu.Unlock()
	return v, nil
}

// TransportURL is the oslo.messaging transport_url: rabbit://user:pass@host:port/vhost, the
// vhost path-escaped ("/" becomes %2F, as kombu expects).
func (v *Vhost) TransportURL() string { return v.url("rabbit") }

// AMQPURL is the same URL with the amqp scheme (amqp091-go, pika).
func (v *Vhost) AMQPURL() string { return v.url("amqp") }

func (v *Vhost) url(scheme string) string {
	return scheme + "://" + url.UserPassword(v.User, v.Password).String() + "@" +
		net.JoinHostPort(v.Host, strconv.Itoa(v.AMQPPort)) + "/" + url.PathEscape(v.Name)
}

// Delete removes the vhost (closing its connections) and its user. Deleting what is gone
// already is not an error.
func (v *Vhost) Delete(ctx context.Context) error {
	api := v.b.api(ctx)
	var errs []error
	if err := done(api.DeleteVhost(v.Name)); err != nil {
		errs = append(errs, fmt.Errorf("deleting vhost %q: %w", v.Name, err))
	}
	if err := done(api.DeleteUser(v.User)); err != nil {
		errs = append(errs, fmt.Errorf("deleting user %q: %w", v.User, err))
	}
	if len(errs) == 0 {
		v.b.mu.Lock()
		delete(v.b.vhosts, v.Name)
		v.b.mu.Unlock()
	}
	return errors.Join(errs...)
}

// done closes the body of a rabbit-hole response we only need the status of.
func done(res *http.Response, err error) error {
	if res != nil && res.Body != nil {
		res.Body.Close()
	}
	return err
}

func isNotFound(err error) bool {
	var er rabbithole.ErrorResponse
	return errors.As(err, &er) && er.StatusCode == http.StatusNotFound
}
