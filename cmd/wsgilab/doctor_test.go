package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const doctorTestdata = "../../internal/doctor/testdata/"

// doctor's exit codes: 0 without findings (Debian's stock Apache), 1 with findings (the puppet-nova
// nova-api vhost), 2 for input it cannot read, each error one line; --json is the report.
func TestDoctorCommand(t *testing.T) {
	var stdout, stderr strings.Builder
	if code := run([]string{"doctor", "--apache", doctorTestdata + "debian-apache2"}, &stdout, &stderr); code != 0 {
		t.Errorf("stock Debian: exit %d\n%s%s", code, stdout.String(), stderr.String())
	}

	stdout.Reset()
	nova := []string{"doctor", "--apache", doctorTestdata + "puppet-nova/httpd", "--oslo", doctorTestdata + "puppet-nova/nova.conf",
		"--app", doctorTestdata + "puppet-nova/nova-api"}
	if code := run(nova, &stdout, &stderr); code != 1 {
		t.Errorf("puppet-nova: exit %d, want 1", code)
	}
	for _, want := range []string{"[HIGH] nova-api: AMQP connections dropped when idle",
		"10-nova_api_wsgi.conf:28: WSGIDaemonProcess nova-api",
		"Reproduce wsgilab run heartbeat --mpm prefork --mode daemon --processes 4 --threads 1 --heartbeat green"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, stdout.String())
		}
	}

	stdout.Reset()
	if code := run(append(nova, "--json"), &stdout, &stderr); code != 1 {
		t.Errorf("--json: exit %d", code)
	}
	var rep struct {
		Kind     string `json:"kind"`
		Services []struct {
			Name      string `json:"name"`
			Predicted string `json:"predicted_heartbeat_verdict"`
		} `json:"services"`
		Findings []struct {
			Rule      string `json:"rule"`
			Severity  string `json:"severity"`
			Reproduce string `json:"reproduce"`
			Lines     []struct {
				File string `json:"file"`
				Line int    `json:"line"`
			} `json:"lines"`
		} `json:"findings"`
	}
	if err := json.Unmarshal([]byte(stdout.String()), &rep); err != nil {
		t.Fatalf("--json: %v\n%s", err, stdout.String())
	}
	if rep.Kind != "wsgilab.doctor/v1" || len(rep.Services) != 1 || rep.Services[0].Predicted != "DROPPED" ||
		len(rep.Findings) != 1 || rep.Findings[0].Rule != "green-heartbeat-idle" || len(rep.Findings[0].Lines) == 0 {
		t.Errorf("--json report: %+v", rep)
	}

	badOslo := filepath.Join(t.TempDir(), "bad.conf")
	os.WriteFile(badOslo, []byte("[oslo_messaging_rabbit]\nheartbeat_timeout_threshold = sixty\n"), 0o644)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--apache", "/nonexistent-wsgilab/apache2"}, "--apache: stat /nonexistent-wsgilab/apache2: no such file or directory"},
		{[]string{"--uwsgi", doctorTestdata + "puppet-nova/nova.conf"}, "no [uwsgi] section"},
		{[]string{"--oslo", badOslo}, "bad.conf:2: heartbeat_timeout_threshold = \"sixty\" is not an integer"},
		{[]string{"--gunicorn", "gunicorn --workers"}, "gunicorn option --workers has no value"},
		{[]string{"--bogus"}, "unknown flag: --bogus"},
		{[]string{"stray"}, `unexpected arguments ["stray"]`},
	} {
		stdout.Reset()
		stderr.Reset()
		code := run(append([]string{"doctor"}, tt.args...), &stdout, &stderr)
		msg := stderr.String()
		if code != 2 || strings.Count(msg, "\n") != 1 || !strings.HasPrefix(msg, "wsgilab doctor: ") || !strings.Contains(msg, tt.want) {
			t.Errorf("%v: exit %d, stderr %q: want exit 2 and one line containing %q", tt.args, code, msg, tt.want)
		}
	}
}
