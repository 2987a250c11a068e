package watch

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"wsgilab/internal/broker"
)

// Which connections are the service's: kombu names whose program contains a --match word (the
// program may itself hold colons); without --match every kombu name.
func TestMatches(t *testing.T) {
	w := &Watcher{cfg: Config{Match: []string{"mod_wsgi", "nova-api"}}}
	for name, want := range map[string]bool{
		"mod_wsgi:4653:b49d0000-0000-0000-0000-000000000000":             true,
		"/usr/bin/nova-api-wsgi:77:b49d0000-0000-0000-0000-000000000000": true,
		"conductor.py:12:b49d0000-0000-0000-0000-000000000000":           false,
		"uwsgi:10:b49d0000-0000-0000-0000-000000000000":                  false,
		"mod_wsgi": false,
		"python3 -m x:mod_wsgi:12:b49d0000-0000-0000-0000-000000000000": true,
	} {
		if got := w.matches(name); got != want {
			t.Errorf("%q: %v, want %v", name, got, want)
		}
	}
	all := &Watcher{}
	if !all.matches("uwsgi:10:u-u-i-d") || all.matches("amqp091-go") {
		t.Error("without --match: every kombu name, and only those")
	}
}

func TestServerOf(t *testing.T) {
	for _, tt := range []struct {
		comm    string
		cmdline []string
		want    string
	}{
		{"apache2", []string{"(wsgi:nova-api)    "}, "mod_wsgi daemon (wsgi:nova-api)"},
		{"apache2", []string{"/usr/sbin/apache2", "-k", "start"}, "apache2 (mod_wsgi)"},
		{"uwsgi", []string{"/usr/bin/uwsgi", "--ini", "x.ini"}, "uwsgi worker"},
		{"gunicorn", []string{"/usr/bin/python3", "/usr/bin/gunicorn", "-c", "x"}, "gunicorn worker"},
	} {
		if got := serverOf(tt.comm, tt.cmdline); got != tt.want {
			t.Errorf("%v: %q, want %q", tt.cmdline, got, tt.want)
		}
	}
	if p := listenerPort("127.0.0.1:35534 -> 127.0.0.1:5672"); p != 5672 {
		t.Errorf("listener port %d", p)
	}
}

// Churn and last traffic from the broker's listings alone (no process of this machine owns
// these connections): a connection that appears is opened, one that disappears closed; the
// time since the broker last received anything counts from the sample where its bytes changed.
// A failed listing changes nothing and is said.
func TestSampleChurn(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 4, 0, 0, 0, time.UTC)
	a := broker.Connection{Name: "127.0.0.1:40000 -> 127.0.0.1:5672", ClientName: "mod_wsgi:999999999:u-1", ClientPort: 40000,
		ConnectedAt: t0, RecvOct: 100, State: "running", Heartbeat: 60, Channels: 1, Vhost: "v"}
	b := a
	b.Name, b.ClientName, b.ClientPort = "127.0.0.1:40001 -> 127.0.0.1:5672", "mod_wsgi:999999999:u-2", 40001
	listings := [][]broker.Connection{{a}, {a, b}, nil, {b}}
	var fail bool
	i := 0
	w, err := New(Config{Connections: func(context.Context) ([]broker.Connection, error) {
		l := listings[i]
		i++
		if fail {
			return nil, errors.New("connection refused")
		}
		return l, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	w.started = t0
	s1 := w.Sample(context.Background(), t0.Add(time.Second))
	if s1.Connections != 1 || s1.Opened != 1 || s1.Closed != 0 {
		t.Errorf("first sample %+v", s1)
	}
	a.RecvOct = 200 // a heartbeat arrived
	listings[1][0] = a
	s2 := w.Sample(context.Background(), t0.Add(2*time.Second))
	if s2.Connections != 2 || s2.Opened != 1 || s2.OpenedTotal != 2 {
		t.Errorf("second sample %+v", s2)
	}
	fail = true
	s3 := w.Sample(context.Background(), t0.Add(3*time.Second))
	if s3.Errors["management_api"] == "" || s3.Connections != 2 || s3.Closed != 0 {
		t.Errorf("failed listing: %+v", s3)
	}
	fail = false
	s4 := w.Sample(context.Background(), t0.Add(5*time.Second))
	if s4.Connections != 1 || s4.Closed != 1 || s4.ClosedTotal != 1 {
		t.Errorf("fourth sample %+v", s4)
	}
	var sc Screen
	var out strings.Builder
	if err := sc.Write(&out, s4); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"connections 1 (+0 -1 since the last sample; 2 opened, 1 closed", "999999999", "40001", "running", "60s"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("screen lacks %q:\n%s", want, out.String())
		}
	}
	// a's bytes changed at 2 s and it is gone; b's never changed: "at least" since it opened.
	for _, p := range s4.Processes {
		for _, c := range p.Connections {
			if c.ClientPort != 40001 || !c.LastTrafficAtLeast || c.LastTrafficS != 5 {
				t.Errorf("connection %+v", c)
			}
		}
	}
	if len(s2.Processes) != 1 {
		t.Fatalf("processes %+v", s2.Processes)
	}
	for _, c := range s2.Processes[0].Connections {
		if c.ClientPort == 40000 && (c.LastTrafficAtLeast || c.LastTrafficS != 0) {
			t.Errorf("a after its bytes changed: %+v", c)
		}
	}
}
