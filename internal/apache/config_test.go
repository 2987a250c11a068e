package apache

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"wsgilab/internal/testsupport"
)

// testApp writes a WSGI script readable by www-data and returns its path.
func testApp(t *testing.T, body string) string {
	t.Helper()
	dir := testsupport.Dir(t)
	p := filepath.Join(dir, "app.wsgi")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const helloApp = `def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello\n"]
`

func TestValidate(t *testing.T) {
	app := testApp(t, helloApp)
	ok := Config{Dir: "/tmp/x", Port: 8080, MPM: "event", Mode: "embedded", AppPath: app}
	daemon := ok
	daemon.Mode, daemon.Processes, daemon.Threads = "daemon", 2, 1

	hidden := filepath.Join(testsupport.Dir(t), "locked")
	if err := os.Mkdir(hidden, 0o700); err != nil {
		t.Fatal(err)
	}
	lockedApp := filepath.Join(hidden, "app.wsgi")
	if err := os.WriteFile(lockedApp, []byte(helloApp), 0o644); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		mod  func(c *Config)
		base Config
		want []string // substrings of the error; none = valid
	}{
		{"embedded ok", func(c *Config) {}, ok, nil},
		{"daemon ok", func(c *Config) { c.Preload, c.InactivityTimeout = true, 30 }, daemon, nil},
		{"prefork knobs", func(c *Config) {
			c.MPM, c.StartServers, c.MinSpareServers, c.MaxSpareServers, c.MaxRequestWorkers = "prefork", 2, 1, 3, 10
		}, ok, nil},
		{"unknown MPM", func(c *Config) { c.MPM = "turbo" }, ok, []string{`unknown MPM "turbo"`, "prefork, worker, event"}},
		{"unknown mode", func(c *Config) { c.Mode = "hybrid" }, ok, []string{`unknown mod_wsgi mode "hybrid"`}},
		{"threads=0 in daemon mode", func(c *Config) { c.Threads = 0 }, daemon, []string{"threads >= 1"}},
		{"processes=0 in daemon mode", func(c *Config) { c.Processes = 0 }, daemon, []string{"processes >= 1"}},
		{"processes in embedded mode", func(c *Config) { c.Processes = 2 }, ok, []string{"processes is a mod_wsgi daemon-mode option"}},
		{"threads in embedded mode", func(c *Config) { c.Threads = 1 }, ok, []string{"threads is a mod_wsgi daemon-mode option"}},
		{"preload in embedded mode", func(c *Config) { c.Preload = true }, ok, []string{"preload is a mod_wsgi daemon-mode option"}},
		{"inactivity in embedded mode", func(c *Config) { c.InactivityTimeout = 5 }, ok, []string{"inactivity-timeout is a mod_wsgi daemon-mode option"}},
		{"prefork with threads", func(c *Config) { c.MPM, c.ThreadsPerChild = "prefork", 4 }, ok,
			[]string{"ThreadsPerChild is not a directive of the prefork MPM"}},
		{"event with spare servers", func(c *Config) { c.MinSpareServers = 4 }, ok,
			[]string{"MinSpareServers is not a directive of the event MPM"}},
		{"negative knob", func(c *Config) { c.MaxRequestWorkers = -1 }, ok, []string{"MaxRequestWorkers=-1"}},
		{"missing app", func(c *Config) { c.AppPath = "/nonexistent/app.wsgi" }, ok, []string{"/nonexistent/app.wsgi does not exist"}},
		{"relative app", func(c *Config) { c.AppPath = "app.wsgi" }, ok, []string{"absolute path"}},
		{"space in app path", func(c *Config) { c.AppPath = "/srv/my app/app.wsgi" }, ok, []string{"contains a space"}},
		{"app www-data cannot reach", func(c *Config) { c.AppPath = lockedApp }, ok, []string{"not traversable by www-data"}},
		{"bad port", func(c *Config) { c.Port = 0 }, ok, []string{"not a TCP port"}},
		{"relative dir", func(c *Config) { c.Dir = "run" }, ok, []string{"absolute path"}},
		{"bad env", func(c *Config) { c.Env = []string{"NOEQUALS"} }, ok, []string{"not KEY=value"}},
		{"several at once", func(c *Config) { c.MPM, c.Threads = "turbo", 3 }, ok,
			[]string{"unknown MPM", "threads is a mod_wsgi daemon-mode option"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.base
			tt.mod(&c)
			err := c.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestRender(t *testing.T) {
	app := testApp(t, helloApp)
	appDir := filepath.Dir(app)
	base := Config{Dir: "/srv/cell", Port: 18080, AppPath: app}
	tests := []struct {
		name    string
		c       Config
		want    []string
		notWant []string
	}{
		{
			name: "prefork embedded, defaults",
			c:    Config{MPM: "prefork", Mode: "embedded"},
			want: []string{
				`ServerRoot "/srv/cell"`,
				"Listen 127.0.0.1:18080",
				`PidFile "/srv/cell/run/httpd.pid"`,
				`DefaultRuntimeDir "/srv/cell/run"`,
				`ErrorLog "/srv/cell/logs/error.log"`,
				"LogLevel notice wsgi:info mpm_prefork:info",
				`LoadModule mpm_prefork_module "/usr/lib/apache2/modules/mod_mpm_prefork.so"`,
				`LoadModule wsgi_module "/usr/lib/apache2/modules/mod_wsgi.so"`,
				"LoadModule status_module",
				"ExtendedStatus On",
				`<Location "/server-status">`,
				"%D %P %{X-Pid}o %{X-App-Time-Us}o",
				`CustomLog "/srv/cell/logs/access.log" wsgilab`,
				`WSGISocketPrefix "/srv/cell/run/wsgi"`,
				"WSGIApplicationGroup %{GLOBAL}",
				`WSGIPythonPath "` + appDir + `"`,
				`WSGIScriptAlias / "` + app + `"` + "\n",
			},
			notWant: []string{"WSGIDaemonProcess", "WSGIProcessGroup", "StartServers", "MaxRequestWorkers",
				"mod_mpm_event", "ThreadsPerChild"},
		},
		{
			name: "prefork knobs",
			c: Config{MPM: "prefork", Mode: "embedded", StartServers: 2, MinSpareServers: 1, MaxSpareServers: 3,
				MaxRequestWorkers: 10, ServerLimit: 10, MaxConnectionsPerChild: 100},
			want: []string{"ServerLimit 10\nStartServers 2\nMinSpareServers 1\nMaxSpareServers 3\nMaxRequestWorkers 10\nMaxConnectionsPerChild 100\n"},
		},
		{
			name: "worker knobs",
			c: Config{MPM: "worker", Mode: "embedded", StartServers: 1, MinSpareThreads: 2, MaxSpareThreads: 8,
				ThreadsPerChild: 4, MaxRequestWorkers: 8, ServerLimit: 2},
			want:    []string{"mod_mpm_worker.so", "MinSpareThreads 2\nMaxSpareThreads 8\nThreadsPerChild 4\nMaxRequestWorkers 8\n"},
			notWant: []string{"MaxConnectionsPerChild", "MinSpareServers"},
		},
		{
			name: "event daemon, lazy",
			c:    Config{MPM: "event", Mode: "daemon", Processes: 2, Threads: 1},
			want: []string{
				"mod_mpm_event.so",
				`WSGIDaemonProcess wsgilab processes=2 threads=1 display-name=%{GROUP} python-path=` + appDir + "\n",
				"WSGIProcessGroup wsgilab\n",
				`WSGIScriptAlias / "` + app + `"` + "\n",
			},
			notWant: []string{"inactivity-timeout", "process-group=", "WSGIPythonPath"},
		},
		{
			name: "event daemon, preloaded, inactivity",
			c:    Config{MPM: "event", Mode: "daemon", Processes: 3, Threads: 5, Preload: true, InactivityTimeout: 30},
			want: []string{
				"processes=3 threads=5",
				" inactivity-timeout=30\n",
				`WSGIScriptAlias / "` + app + `" process-group=wsgilab application-group=%{GLOBAL}` + "\n",
			},
			notWant: []string{"WSGIProcessGroup"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.c
			c.Dir, c.Port, c.AppPath = base.Dir, base.Port, base.AppPath
			conf, err := Render(c)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(conf, w) {
					t.Errorf("missing %q in:\n%s", w, conf)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(conf, w) {
					t.Errorf("unexpected %q in:\n%s", w, conf)
				}
			}
		})
	}
	if _, err := Render(Config{MPM: "turbo"}); err == nil {
		t.Fatal("Render accepted an invalid config")
	}
}
