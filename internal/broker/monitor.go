package broker

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// Monitor is a read-only view of a running broker's management API, for `wsgilab watch` on
// someone's deployment: it is given only the API's URL, needs only the monitoring tag (not
// administrator, which Existing requires to create vhosts), and wsgilab only reads through it
// (Connections: GET /api/connections). Stop on it changes nothing.
//
// managementURL is http://[user:pass@]host:port/; without credentials RabbitMQ's default
// guest:guest is tried (which the broker accepts from loopback only). Monitor checks that the
// API answers with those credentials (GET /api/whoami).
func Monitor(ctx context.Context, managementURL string) (*Broker, error) {
	mu, port, err := ParseManagementURL(managementURL)
	if err != nil {
		return nil, err
	}
	user, pass := "guest", "guest"
	if mu.User != nil {
		user = mu.User.Username()
		pass, _ = mu.User.Password()
	}
	client, base, err := newManagementClient(mu.Hostname(), port, user, pass)
	if err != nil {
		return nil, err
	}
	b := &Broker{ManagementPort: port, AdminUser: user, managementURL: base, client: client, vhosts: map[string]*Vhost{},
		stopped: true}
	if _, err := b.api(ctx).Whoami(); err != nil {
		if strings.Contains(err.Error(), "401") {
			return nil, fmt.Errorf("management API %s rejected user %q: wrong user or password", base, user)
		}
		return nil, fmt.Errorf("management API %s does not answer: %w", base, err)
	}
	return b, nil
}

// ParseManagementURL checks a management API URL without contacting it (http only, the API's
// root) and returns it with its port.
func ParseManagementURL(managementURL string) (*url.URL, int, error) {
	mu, err := url.Parse(managementURL)
	if err != nil {
		return nil, 0, fmt.Errorf("--management %q: not a URL: %w", redact(managementURL), urlErr(err))
	}
	if mu.Scheme != "http" || mu.Hostname() == "" {
		return nil, 0, fmt.Errorf("--management %q: want http://[user:pass@]host:port/ (https is not supported)", redact(managementURL))
	}
	if mu.Path != "" && mu.Path != "/" {
		return nil, 0, fmt.Errorf("--management %q: give the API's root (http://host:port/), not a path", redact(managementURL))
	}
	port := 80
	if p := mu.Port(); p != "" {
		if port, err = strconv.Atoi(p); err != nil {
			return nil, 0, fmt.Errorf("--management %q: bad port: %w", redact(managementURL), err)
		}
	}
	return mu, port, nil
}
