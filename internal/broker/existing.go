package broker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Existing uses a broker that runs already (`--broker amqp://user:pass@host:port/` and
// `--management http://[user:pass@]host:port/`). The management credentials default to the
// AMQP URL's; that user must have the administrator tag, since every cell creates a vhost and
// a user. Existing checks that the management API answers with those credentials and that the
// AMQP port accepts TCP connections, so a typo fails before any cell starts.
func Existing(amqpURL, managementURL string) (*Broker, error) {
	au, mu, mport, err := parseExisting(amqpURL, managementURL)
	if err != nil {
		return nil, err
	}
	user, pass := au.Username, au.Password
	if mu.User != nil {
		user = mu.User.Username()
		pass, _ = mu.User.Password()
	}

	client, base, err := newManagementClient(mu.Hostname(), mport, user, pass)
	if err != nil {
		return nil, err
	}
	b := &Broker{
		AMQPHost:       au.Host,
		AMQPPort:       au.Port,
		ManagementPort: mport,
		AdminUser:      user,
		AdminPassword:  pass,
		managementURL:  base,
		client:         client,
		vhosts:         map[string]*Vhost{},
	}

	ctx, cancel := context.WithTimeout(context.Background(), apiTimeout)
	defer cancel()
	who, err := b.api(ctx).Whoami()
	if err != nil {
		if strings.Contains(err.Error(), "401") {
			return nil, fmt.Errorf("management API %s rejected user %q: wrong user or password", base, user)
		}
		return nil, fmt.Errorf("management API %s does not answer: %w", base, err)
	}
	if !slices.Contains(who.Tags, "administrator") {
		return nil, fmt.Errorf("management API %s: user %q has tags %v; creating a vhost and a user per cell needs the administrator tag",
			base, user, []string(who.Tags))
	}
	if ov, err := b.api(ctx).Overview(); err == nil {
		b.Node = ov.Node
	}
	addr := net.JoinHostPort(au.Host, strconv.Itoa(au.Port))
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, fmt.Errorf("--broker: AMQP port %s: %w", addr, err)
	}
	c.Close()
	return b, nil
}

// CheckURLs checks what Existing would be given without contacting anything: both URLs
// present, well formed and of a supported scheme. Commands call it with the rest of their
// arguments, so that a typo is bad input (exit 2) before anything starts.
func CheckURLs(amqpURL, managementURL string) error {
	if amqpURL == "" && managementURL == "" {
		return nil
	}
	if (amqpURL == "") != (managementURL == "") {
		return errors.New("--broker and --management go together (an existing broker needs both)")
	}
	_, _, _, err := parseExisting(amqpURL, managementURL)
	return err
}

// parseExisting reads Existing's URLs: the AMQP URI, the management URL and its port.
func parseExisting(amqpURL, managementURL string) (amqp.URI, *url.URL, int, error) {
	au, err := amqp.ParseURI(amqpURL)
	if err != nil {
		return au, nil, 0, fmt.Errorf("--broker %q: not an AMQP URL (amqp://user:pass@host:port/): %w", redact(amqpURL), urlErr(err))
	}
	if au.Scheme != "amqp" {
		return au, nil, 0, fmt.Errorf("--broker %q: only amqp:// is supported (TLS is not)", redact(amqpURL))
	}
	mu, err := url.Parse(managementURL)
	if err != nil {
		return au, nil, 0, fmt.Errorf("--management %q: not a URL: %w", redact(managementURL), urlErr(err))
	}
	if mu.Scheme != "http" || mu.Hostname() == "" {
		return au, nil, 0, fmt.Errorf("--management %q: want http://host:port/ (https is not supported)", redact(managementURL))
	}
	if mu.Path != "" && mu.Path != "/" {
		return au, nil, 0, fmt.Errorf("--management %q: give the API's root (http://host:port/), not a path", redact(managementURL))
	}
	mport := 80
	if p := mu.Port(); p != "" {
		if mport, err = strconv.Atoi(p); err != nil {
			return au, nil, 0, fmt.Errorf("--management %q: bad port: %w", redact(managementURL), err)
		}
	}
	return au, mu, mport, nil
}

// redact hides the password of a URL in error messages.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		if i := strings.Index(raw, "@"); i >= 0 {
			if j := strings.Index(raw, "://"); j >= 0 && j < i {
				return raw[:j+3] + "xxx@" + raw[i+1:]
			}
		}
		return raw
	}
	return u.Redacted()
}

// urlErr drops the URL that net/url puts in its errors: it may hold a password.
func urlErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
