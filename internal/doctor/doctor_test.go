package doctor

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// diagnose reads in and diagnoses it, failing the test on an input error.
func diagnose(t *testing.T, in Inputs) *Report {
	t.Helper()
	d, err := Read(in)
	if err != nil {
		t.Fatal(err)
	}
	return Diagnose(d)
}

func ruleIDs(r *Report) []string {
	var out []string
	for _, f := range r.Findings {
		out = append(out, f.Rule)
	}
	return out
}

func finding(t *testing.T, r *Report, rule string) Finding {
	t.Helper()
	for _, f := range r.Findings {
		if f.Rule == rule {
			return f
		}
	}
	t.Fatalf("no %s finding; findings %v, notes %q", rule, ruleIDs(r), r.Notes)
	return Finding{}
}

// hasLine says the finding rests on a line of file (a suffix of its path) containing text.
func hasLine(f Finding, file, text string) bool {
	return slices.ContainsFunc(f.Lines, func(l Line) bool {
		return strings.HasSuffix(l.File, file) && strings.Contains(l.Text, text) && l.Line > 0
	})
}

// Debian's stock /etc/apache2 (apache2 2.4.71 with libapache2-mod-wsgi-py3 enabled, copied
// with its symlinks resolved): read through apache2.conf's IncludeOptional of mods-enabled,
// conf-enabled and sites-enabled and its envvars; the event MPM is loaded, mod_wsgi too, and
// no WSGI application is mounted, so nothing is at risk.
func TestDebianStockApache(t *testing.T) {
	r := diagnose(t, Inputs{Apache: []string{"testdata/debian-apache2"}})
	if len(r.Services) != 0 || len(r.Findings) != 0 {
		t.Errorf("services %v, findings %v: want none", r.Services, ruleIDs(r))
	}
	for _, want := range []string{"envvars", "mods-enabled/mpm_event.conf", "mods-enabled/wsgi.load", "sites-enabled/000-default.conf"} {
		if !slices.ContainsFunc(r.Read, func(p string) bool { return strings.HasSuffix(p, want) }) {
			t.Errorf("%s not read; read %v", want, r.Read)
		}
	}
}

// The same configuration after `a2dismod mpm_event; a2enmod mpm_prefork` and a site mounting a
// monkey-patched app in embedded mode: Debian's prefork settings are Apache's defaults
// (MinSpareServers 5, MaxSpareServers 10, below MaxRequestWorkers 150), so children are reaped
// and forked again (cold starts), and mod_wsgi starves the green heartbeat.
func TestDebianPreforkEmbedded(t *testing.T) {
	dir := t.TempDir()
	copyTree(t, "testdata/debian-apache2", dir)
	for _, f := range []string{"mpm_event.conf", "mpm_event.load"} {
		os.Remove(filepath.Join(dir, "mods-enabled", f))
	}
	for _, f := range []string{"mpm_prefork.conf", "mpm_prefork.load"} {
		copyFile(t, filepath.Join(dir, "mods-available", f), filepath.Join(dir, "mods-enabled", f))
	}
	app := filepath.Join(dir, "app.wsgi")
	write(t, app, "import eventlet\neventlet.monkey_patch()\nimport oslo_messaging\n"+
		"TRANSPORT = oslo_messaging.get_rpc_transport(None)\n\ndef application(environ, start_response):\n    pass\n")
	write(t, filepath.Join(dir, "sites-enabled", "myapp.conf"),
		"<VirtualHost *:8080>\n    WSGIScriptAlias / "+app+"\n    <Directory "+dir+">\n        Require all granted\n    </Directory>\n</VirtualHost>\n")
	r := diagnose(t, Inputs{Apache: []string{dir}})
	if len(r.Services) != 1 || r.Services[0].MPM != "prefork" || r.Services[0].Mode != "embedded" || r.Services[0].Threads != 1 {
		t.Fatalf("services %+v", r.Services)
	}
	cold := finding(t, r, "prefork-embedded-cold-starts")
	if cold.Severity != Medium || !hasLine(cold, "mods-enabled/mpm_prefork.conf", "MaxSpareServers") ||
		!strings.Contains(cold.Title, "default spare settings") || cold.Reproduce != "wsgilab run spikes --mpm prefork --mode embedded --spare default" {
		t.Errorf("cold starts: %+v", cold)
	}
	green := finding(t, r, "green-heartbeat-idle")
	if green.Severity != High || green.Predicts != Dropped || len(green.Assumes) != 0 || !hasLine(green, "app.wsgi", "eventlet.monkey_patch()") ||
		!hasLine(green, "sites-enabled/myapp.conf", "WSGIScriptAlias") ||
		green.Reproduce != "wsgilab run heartbeat --mpm prefork --mode embedded --heartbeat green" {
		t.Errorf("green heartbeat: %+v", green)
	}
	if a := r.Services[0].App; a.OsloMessaging != Yes || !a.TransportAtImport {
		t.Errorf("app %+v: want oslo.messaging with a transport at import", a)
	}
	if r.Services[0].Predicted != Dropped {
		t.Errorf("predicted %s", r.Services[0].Predicted)
	}
}

// A TripleO/puppet-nova nova_api container's /etc/httpd, copied here (its ServerRoot /etc/httpd
// is not on this machine): prefork, the puppet-openstacklib vhost with WSGIDaemonProcess
// nova-api processes=4 threads=1, nova.conf with the heartbeat's defaults. nova is not installed
// here, so whether nova-api-wsgi monkey-patches is assumed, and said; threads=1 keeps the RPC
// replies safe; heartbeat_in_pthread = True clears everything.
func TestPuppetNova(t *testing.T) {
	in := Inputs{Apache: []string{"testdata/puppet-nova/httpd"}, Oslo: []string{"testdata/puppet-nova/nova.conf"},
		App: "testdata/puppet-nova/nova-api"}
	r := diagnose(t, in)
	if len(r.Services) != 1 {
		t.Fatalf("services %+v, notes %q", r.Services, r.Notes)
	}
	s := r.Services[0]
	if s.Name != "nova-api" || s.MPM != "prefork" || s.Mode != "daemon" || s.Processes != 4 || s.Threads != 1 {
		t.Errorf("service %+v", s.Service)
	}
	if got := ruleIDs(r); !slices.Equal(got, []string{"green-heartbeat-idle"}) {
		t.Errorf("findings %v, want green-heartbeat-idle only (threads=1: no lost replies; daemon mode: no cold starts)", got)
	}
	f := finding(t, r, "green-heartbeat-idle")
	if !hasLine(f, "conf.d/10-nova_api_wsgi.conf", "WSGIDaemonProcess nova-api") || !hasLine(f, "nova.conf", "heartbeat_timeout_threshold=60") ||
		f.Reproduce != "wsgilab run heartbeat --mpm prefork --mode daemon --processes 4 --threads 1 --heartbeat green" {
		t.Errorf("finding %+v", f)
	}
	if !slices.ContainsFunc(f.Assumes, func(a string) bool { return strings.Contains(a, "it imports nova, not installed here") }) {
		t.Errorf("assumptions %q: want the unread nova import said", f.Assumes)
	}
	if s.App.MonkeyPatch != Unknown || !slices.Equal(s.App.Unread, []string{"nova"}) {
		t.Errorf("app %+v", s.App)
	}
	if !slices.ContainsFunc(r.Notes, func(n string) bool { return strings.Contains(n, "ServerRoot /etc/httpd is not on this machine") }) {
		t.Errorf("notes %q", r.Notes)
	}

	in.Oslo = append(in.Oslo, "testdata/puppet-nova/nova-pthread.conf")
	if r := diagnose(t, in); len(r.Findings) != 0 || r.Services[0].Predicted != Stable {
		t.Errorf("with heartbeat_in_pthread: findings %v, predicted %s", ruleIDs(r), r.Services[0].Predicted)
	}
}

// A devstack-style uWSGI ini without enable-threads, with heartbeat_in_pthread: the native
// heartbeat never runs, so the connections drop all the same, and enabling threads is the fix.
func TestUWSGIIni(t *testing.T) {
	r := diagnose(t, Inputs{UWSGI: []string{"testdata/uwsgi/nova-api-uwsgi.ini"}, Oslo: []string{"testdata/uwsgi/nova-pthread.conf"}})
	if got := ruleIDs(r); !slices.Equal(got, []string{"uwsgi-python-threads-off"}) {
		t.Fatalf("findings %v", got)
	}
	s := r.Services[0]
	if s.Processes != 2 || s.Threads != 1 || s.PythonThreads || !s.LazyApps || s.Script != "/usr/local/bin/nova-api-wsgi" {
		t.Errorf("service %+v", s.Service)
	}
	f := r.Findings[0]
	if f.Predicts != Dropped || !hasLine(f, "nova-pthread.conf", "heartbeat_in_pthread = true") ||
		f.Reproduce != "wsgilab run heartbeat --server uwsgi --uwsgi-threads off --uwsgi-lazy-apps on --processes 2 --heartbeat pthread" {
		t.Errorf("finding %+v", f)
	}
	d, _ := Read(Inputs{UWSGI: []string{"testdata/uwsgi/nova-api-uwsgi.ini"}})
	if v, ok := d.Env.Lookup("OS_NOVA_DISABLE_EVENTLET_PATCHING"); !ok || v != "0" {
		t.Errorf("env = from the ini: %q %v", v, ok)
	}
}

// uWSGI reads its ini with %-expansion and flags that "false" turns off; threads above one turn
// Python threads on.
func TestUWSGIValues(t *testing.T) {
	dir := t.TempDir()
	ini := filepath.Join(dir, "app.ini")
	write(t, ini, "[other]\nenable-threads = true\n[uwsgi]\nbase = /srv/app\nwsgi-file = %(base)/wsgi.py\nlogformat = %%(addr) x\n"+
		"enable-threads = false\nthreads = 4\nworkers = 3\n")
	d, err := Read(Inputs{UWSGI: []string{ini}})
	if err != nil {
		t.Fatal(err)
	}
	s := d.Services[0]
	if s.Script != "/srv/app/wsgi.py" || s.Processes != 3 || s.Threads != 4 || !s.PythonThreads || s.Preload != true {
		t.Errorf("service %+v", s)
	}
}

// gunicorn from its command line: the sync worker with threads is gthread (gunicorn switches
// it), which does not serve a monkey-patched app; the eventlet worker keeps the green heartbeat.
func TestGunicornCommandLine(t *testing.T) {
	dir := t.TempDir()
	app := filepath.Join(dir, "patched.py")
	write(t, app, "import eventlet\neventlet.monkey_patch()\nimport oslo_messaging\napplication = None\n")
	r := diagnose(t, Inputs{Gunicorn: []string{"/usr/bin/gunicorn --workers=2 --threads 4 -b 127.0.0.1:8000 patched:application"}, App: app})
	s := r.Services[0]
	if s.Worker != "gthread" || s.Processes != 2 || s.Threads != 4 {
		t.Errorf("service %+v", s.Service)
	}
	if f := finding(t, r, "gunicorn-gthread-patched"); f.Predicts != Error || s.Predicted != Error ||
		f.Reproduce != "wsgilab run heartbeat --server gunicorn --gunicorn-worker gthread --processes 2 --threads 4 --heartbeat green" {
		t.Errorf("finding %+v, predicted %s", f, s.Predicted)
	}
	// Quoted arguments holding blanks, as in a systemd unit, are one argument each.
	r = diagnose(t, Inputs{Gunicorn: []string{`gunicorn --access-logformat '%(h)s "%(r)s" %(s)s' -w 3 --threads "2" patched:application`}, App: app})
	if s := r.Services[0]; s.Worker != "gthread" || s.Processes != 3 || s.Threads != 2 {
		t.Errorf("quoted arguments: service %+v", s.Service)
	}
	r = diagnose(t, Inputs{Gunicorn: []string{"gunicorn -k eventlet -w 4 --preload patched:application"}, App: app})
	if s := r.Services[0]; s.Worker != "eventlet" || !s.Preload || s.Predicted != Stable || len(r.Findings) != 0 {
		t.Errorf("eventlet worker: %+v, findings %v", s.Service, ruleIDs(r))
	}
}

// Every unreadable input is an InputError (the command's exit 2) naming what is wrong.
func TestInputErrors(t *testing.T) {
	dir := t.TempDir()
	badOslo := filepath.Join(dir, "bad.conf")
	write(t, badOslo, "[oslo_messaging_rabbit]\nheartbeat_in_pthread = sometimes\n")
	noSection := filepath.Join(dir, "no.ini")
	write(t, noSection, "[app]\nprocesses = 2\n")
	missingInclude := filepath.Join(dir, "httpd.conf")
	write(t, missingInclude, "Include conf/missing.conf\n")
	for _, tt := range []struct {
		in   Inputs
		want string
	}{
		{Inputs{Apache: []string{"/nonexistent/apache2"}}, "--apache: stat /nonexistent/apache2: no such file or directory"},
		{Inputs{Apache: []string{t.TempDir()}}, "no apache2.conf or httpd.conf"},
		{Inputs{Apache: []string{missingInclude}}, "httpd.conf:1: Include " + dir + "/conf/missing.conf"},
		{Inputs{Oslo: []string{badOslo}}, `bad.conf:2: heartbeat_in_pthread = "sometimes" is not a boolean`},
		{Inputs{UWSGI: []string{noSection}}, "no [uwsgi] section"},
		{Inputs{Gunicorn: []string{"/nonexistent/gunicorn.conf.py"}}, "no such file"},
		{Inputs{Gunicorn: []string{"gunicorn -w"}}, "gunicorn option -w has no value"},
		{Inputs{Apache: []string{"testdata/puppet-nova/httpd"}, App: "/nonexistent/app.wsgi"}, "--app: stat /nonexistent/app.wsgi"},
		{Inputs{EnvFiles: []string{"/nonexistent/env"}}, "--env-file"},
	} {
		_, err := Read(tt.in)
		var ie *InputError
		if !errors.As(err, &ie) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: error %v, want an InputError containing %q", tt.in, err, tt.want)
		}
	}
}

// Heartbeats off without keepalive of the app's own, and a timeout under RabbitMQ's floor, from
// oslo.messaging options alone.
func TestOsloRules(t *testing.T) {
	dir := t.TempDir()
	off := filepath.Join(dir, "off.conf")
	write(t, off, "[oslo_messaging_rabbit]\nheartbeat_timeout_threshold = 0\n")
	r := diagnose(t, Inputs{Oslo: []string{off}})
	if f := finding(t, r, "heartbeat-off-no-keepalive"); !hasLine(f, "off.conf", "heartbeat_timeout_threshold = 0") {
		t.Errorf("finding %+v", f)
	}
	short := filepath.Join(dir, "short.conf")
	write(t, short, "[oslo_messaging_rabbit]\nheartbeat_timeout_threshold: 3\n")
	if got := ruleIDs(diagnose(t, Inputs{Oslo: []string{short}})); !slices.Equal(got, []string{"heartbeat-timeout-short"}) {
		t.Errorf("findings %v", got)
	}
	// An app that sets its own keepalive (the fake service's WSGILAB_TCP_KEEPALIVE) is safe.
	app := filepath.Join(dir, "app.wsgi")
	write(t, app, "import os, socket\nimport oslo_messaging\nif int(os.environ.get('KA', '0')) > 0:\n"+
		"    opts = {'socket_settings': {socket.TCP_KEEPIDLE: 5}}\n")
	env := filepath.Join(dir, "env")
	write(t, env, "KA=5\n")
	ini := filepath.Join(dir, "u.ini")
	write(t, ini, "[uwsgi]\nenable-threads = true\n")
	if got := ruleIDs(diagnose(t, Inputs{UWSGI: []string{ini}, Oslo: []string{off}, App: app, EnvFiles: []string{env}})); len(got) != 0 {
		t.Errorf("keepalive set by the app: findings %v", got)
	}
}

func write(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	write(t, dst, string(b))
}

func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, e os.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		copyFile(t, p, filepath.Join(dst, rel))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
