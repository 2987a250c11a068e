package doctor

import (
	"os"
	"regexp"
	"strings"
)

// Env is the environment the app's processes get, as far as the configuration read says: an
// app may decide at import whether to monkey-patch from a variable (nova's
// OS_NOVA_DISABLE_EVENTLET_PATCHING, the fake service's WSGILAB_MONKEY_PATCH). Sources: Debian's
// /etc/apache2/envvars (apache2ctl exports it, and mod_wsgi hands Apache's environment to
// os.environ), uWSGI's env = options, gunicorn's raw_env / --env, and --env-file files
// (systemd's EnvironmentFile=).
type Env map[string]EnvVar

// EnvVar is a variable's value and where it was set.
type EnvVar struct {
	Value string `json:"value"`
	Line  Line   `json:"line"`
}

func (e Env) set(k, v string, l Line) { e[k] = EnvVar{Value: v, Line: l} }

// Lookup returns a variable's value.
func (e Env) Lookup(k string) (string, bool) {
	v, ok := e[k]
	return v.Value, ok
}

var envAssign = regexp.MustCompile(`^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$`)

// ReadEnvFile reads KEY=value lines (systemd's EnvironmentFile=, or a shell file of exports
// such as Debian's envvars: "export APACHE_RUN_USER=www-data") into d's environment. Quotes
// are taken off; $VAR and ${VAR} are expanded from what the file set before, as the shell
// would. Lines that are not assignments (comments, if/fi) are skipped.
func (d *Deployment) ReadEnvFile(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return inputErr("--env-file: %v", err)
	}
	d.read(path)
	if d.Env == nil {
		d.Env = Env{}
	}
	for i, raw := range strings.Split(string(b), "\n") {
		t := strings.TrimSpace(raw)
		m := envAssign.FindStringSubmatch(t)
		if m == nil {
			continue
		}
		d.Env.set(m[1], shellValue(m[2], d.Env), Line{File: path, Line: i + 1, Text: t})
	}
	return nil
}

var shellVar = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)`)

// shellValue is the value of a shell assignment's right-hand side: single quotes literal,
// double quotes and bare words with variables expanded; a trailing comment dropped.
func shellValue(v string, env Env) string {
	v = strings.TrimSpace(v)
	switch {
	case strings.HasPrefix(v, "'"):
		if end := strings.Index(v[1:], "'"); end >= 0 {
			return v[1 : 1+end]
		}
		return v[1:]
	case strings.HasPrefix(v, `"`):
		if end := strings.Index(v[1:], `"`); end >= 0 {
			v = v[1 : 1+end]
		} else {
			v = v[1:]
		}
	default:
		if i := strings.Index(v, " #"); i >= 0 {
			v = strings.TrimSpace(v[:i])
		}
	}
	return shellVar.ReplaceAllStringFunc(v, func(m string) string {
		name := strings.Trim(m, "${}")
		val, _ := env.Lookup(name)
		return val
	})
}
