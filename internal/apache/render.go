package apache

import (
	_ "embed"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/template"
)

//go:embed httpd.conf.tmpl
var confTemplate string

var tmpl = template.Must(template.New("httpd.conf").Option("missingkey=error").Parse(confTemplate))

// AccessLogFormat is the access log's LogFormat. Fields after the request line, space
// separated: status, response bytes (%b), Apache's time in microseconds (%D), the Apache
// child's PID (%P), the app's process (X-Pid, "-" when the app did not answer) and the app's
// own time in microseconds (X-App-Time-Us, "-" likewise). A spike shows up as a large %D with
// a small app time: Apache (or process creation) spent the difference.
const AccessLogFormat = `%h %t \"%r\" %>s %b %D %P %{X-Pid}o %{X-App-Time-Us}o`

// Paths of an instance, all under Config.Dir.
func (c Config) confPath() string { return filepath.Join(c.Dir, "httpd.conf") }
func (c Config) runDir() string   { return filepath.Join(c.Dir, "run") }

// maxSocketPath is what a unix socket path may hold (sun_path is 108 bytes with its NUL);
// mod_wsgi names its daemon sockets <prefix>.<pid>.<generation>.<n>.sock.
const maxSocketPath = 107

// socketPrefix is where the mod_wsgi daemon sockets go: the run dir, unless its path is too
// long for a unix socket (a deep test or --out directory), then c.SocketDir.
func (c Config) socketPrefix() string {
	if c.SocketDir != "" {
		return filepath.Join(c.SocketDir, "wsgi")
	}
	return filepath.Join(c.runDir(), "wsgi")
}

// socketPathFits reports whether the longest socket name mod_wsgi may make fits in sun_path.
func socketPathFits(prefix string) bool {
	return len(prefix)+len(".4194304.999.999.sock") <= maxSocketPath
}
func (c Config) logDir() string    { return filepath.Join(c.Dir, "logs") }
func (c Config) errorLog() string  { return filepath.Join(c.logDir(), "error.log") }
func (c Config) accessLog() string { return filepath.Join(c.logDir(), "access.log") }
func (c Config) stdoutLog() string { return filepath.Join(c.logDir(), "apache2.out") }

type templateData struct {
	Config
	Daemon          bool
	AsRoot          bool
	RunUser         string
	RunGroup        string
	DaemonName      string // the WSGIDaemonProcess name
	RunDir          string
	SocketPrefix    string
	ModulesDir      string
	ErrorLog        string
	AccessLog       string
	AccessLogFormat string
	AppDir          string
	MPMDirectives   []string
}

// Render validates c and returns its httpd.conf.
func Render(c Config) (string, error) {
	if err := c.Validate(); err != nil {
		return "", err
	}
	d := templateData{
		Config:          c,
		Daemon:          c.daemon(),
		AsRoot:          os.Geteuid() == 0,
		RunUser:         RunUser,
		RunGroup:        RunGroup,
		DaemonName:      DaemonGroup,
		RunDir:          c.runDir(),
		SocketPrefix:    c.socketPrefix(),
		ModulesDir:      ModulesDir,
		ErrorLog:        c.errorLog(),
		AccessLog:       c.accessLog(),
		AccessLogFormat: AccessLogFormat,
		AppDir:          filepath.Dir(c.AppPath),
		MPMDirectives:   mpmDirectives(c),
	}
	var b strings.Builder
	if err := tmpl.Execute(&b, d); err != nil {
		return "", fmt.Errorf("rendering httpd.conf: %w", err)
	}
	return b.String(), nil
}

// mpmDirectives lists the MPM directives that differ from Apache's defaults, in the order
// Debian's mpm_*.conf writes them. Validate has rejected directives of another MPM.
func mpmDirectives(c Config) []string {
	var out []string
	add := func(name string, v int) {
		if v > 0 {
			out = append(out, name+" "+strconv.Itoa(v))
		}
	}
	// ServerLimit first: Apache sizes the scoreboard from it before MaxRequestWorkers.
	add("ServerLimit", c.ServerLimit)
	add("StartServers", c.StartServers)
	add("MinSpareServers", c.MinSpareServers)
	add("MaxSpareServers", c.MaxSpareServers)
	add("MinSpareThreads", c.MinSpareThreads)
	add("MaxSpareThreads", c.MaxSpareThreads)
	add("ThreadsPerChild", c.ThreadsPerChild)
	add("MaxRequestWorkers", c.MaxRequestWorkers)
	add("MaxConnectionsPerChild", c.MaxConnectionsPerChild)
	return out
}
