package doctor

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/google/shlex"
)

// gunicorn's settings come from a Python configuration file (gunicorn -c gunicorn.conf.py:
// one assignment per setting) and its command line, the command line winning, as gunicorn
// applies them. --gunicorn takes a .py configuration file, a file holding a command line (a
// systemd unit's ExecStart=, a wrapper script), or the command line itself.

type gunicornSetting struct {
	value string // a literal's value: a string unquoted, a list's items joined by "\n"
	known bool   // false when the right-hand side is no literal (an expression)
	line  Line
}

// ReadGunicorn reads gunicorn's configuration from spec (see above) and adds its Service.
func (d *Deployment) ReadGunicorn(spec string) error {
	settings := map[string]gunicornSetting{}
	name, src := "gunicorn", "(command line)"
	if st, err := os.Stat(spec); err == nil && !st.IsDir() {
		name, src = filepath.Base(spec), spec
		if strings.HasSuffix(spec, ".py") {
			if err := d.readGunicornPy(spec, settings); err != nil {
				return err
			}
		} else {
			b, err := os.ReadFile(spec)
			if err != nil {
				return inputErr("--gunicorn: %v", err)
			}
			d.read(spec)
			if err := d.gunicornArgs(commandLine(string(b)), Line{File: spec, Line: 1}, settings); err != nil {
				return err
			}
		}
	} else if strings.ContainsAny(spec, " \t") || strings.HasPrefix(spec, "-") {
		if err := d.gunicornArgs(shellWords(spec), Line{File: "(command line)", Line: 1, Text: spec}, settings); err != nil {
			return err
		}
	} else {
		return inputErr("--gunicorn %s: no such file (give a gunicorn.conf.py, a file with gunicorn's command line, or the command line itself)", spec)
	}
	s := &Service{Server: Gunicorn, Name: name, Processes: 1, Threads: 1, PythonThreads: true}
	intSetting := func(k string, into *int, fact string) {
		if v, ok := settings[k]; ok {
			if n, err := strconv.Atoi(v.value); err == nil && v.known {
				*into = n
				s.setLine(fact, v.line)
			} else {
				*into = 0
				d.note("%s: %s is not a number gunicorn's file states literally; taken as unknown", v.line, k)
			}
		}
	}
	intSetting("workers", &s.Processes, "processes")
	intSetting("threads", &s.Threads, "threads")
	s.Worker = "sync"
	if v, ok := settings["worker_class"]; ok {
		s.Worker = workerClass(v.value)
		s.setLine("worker", v.line)
	}
	if s.Worker == "sync" && s.Threads > 1 {
		// gunicorn runs a sync worker with threads as gthread.
		s.Worker = "gthread"
		s.setLine("worker", s.Lines["threads"])
	}
	if _, ok := s.Lines["worker"]; !ok {
		s.setLine("worker", Line{File: src, Text: "(no worker_class: gunicorn's default is sync)"})
	}
	if s.Worker != "gthread" {
		// sync and eventlet workers run each request on one OS thread (eventlet's in green
		// threads on its hub).
		s.Threads = 1
	}
	if v, ok := settings["preload_app"]; ok && strings.EqualFold(v.value, "true") {
		s.Preload = true
		s.setLine("preload", v.line)
	}
	if v, ok := settings["wsgi_app"]; ok {
		s.Script = v.value
		s.setLine("script", v.line)
		// "module:callable": the module's file, where gunicorn would import it from.
		var dirs []string
		for _, k := range []string{"pythonpath", "chdir"} {
			if p, ok := settings[k]; ok {
				dirs = append(dirs, strings.Split(p.value, ",")...)
			}
		}
		if f := moduleFile(strings.SplitN(v.value, ":", 2)[0], append(dirs, filepath.Dir(v.line.File))); f != "" {
			s.Script = f
		}
	}
	if v, ok := settings["raw_env"]; ok {
		for _, kv := range strings.Split(v.value, "\n") {
			if k, val, ok := strings.Cut(kv, "="); ok {
				if d.Env == nil {
					d.Env = Env{}
				}
				d.Env.set(k, val, v.line)
			}
		}
	}
	s.setLine("mode", s.Lines["worker"])
	d.Services = append(d.Services, s)
	return nil
}

// workerClass is a worker class's short name: "eventlet" for "eventlet",
// "egg:gunicorn#eventlet" or "gunicorn.workers.geventlet.EventletWorker".
func workerClass(v string) string {
	v = strings.TrimPrefix(v, "egg:gunicorn#")
	switch v {
	case "gunicorn.workers.sync.SyncWorker":
		return "sync"
	case "gunicorn.workers.gthread.ThreadWorker":
		return "gthread"
	case "gunicorn.workers.geventlet.EventletWorker":
		return "eventlet"
	case "gunicorn.workers.ggevent.GeventWorker":
		return "gevent"
	}
	return v
}

var pyAssign = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.+)$`)

// readGunicornPy reads the top-level assignments of a gunicorn.conf.py.
func (d *Deployment) readGunicornPy(path string, settings map[string]gunicornSetting) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return inputErr("--gunicorn: %v", err)
	}
	d.read(path)
	for i, raw := range strings.Split(string(b), "\n") {
		if raw == "" || raw[0] == ' ' || raw[0] == '\t' || raw[0] == '#' {
			continue // indented: inside a function or a block, not a setting
		}
		m := pyAssign.FindStringSubmatch(strings.TrimSpace(raw))
		if m == nil {
			continue
		}
		v, ok := pyLiteral(m[2])
		settings[m[1]] = gunicornSetting{value: v, known: ok, line: Line{File: path, Line: i + 1, Text: strings.TrimSpace(raw)}}
	}
	return nil
}

// pyLiteral reads a Python literal: a number, a quoted string, True/False, or a list or tuple of
// strings (items joined by "\n"); ok is false for anything else (an expression).
func pyLiteral(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if i := strings.Index(s, " #"); i >= 0 && !strings.ContainsAny(s[:i], `"'`) {
		s = strings.TrimSpace(s[:i])
	}
	if v, err := strconv.Atoi(s); err == nil {
		return strconv.Itoa(v), true
	}
	if s == "True" || s == "False" {
		return strings.ToLower(s), true
	}
	if v, ok := pyString(s); ok {
		return v, true
	}
	if len(s) >= 2 && (s[0] == '[' && s[len(s)-1] == ']' || s[0] == '(' && s[len(s)-1] == ')') {
		var items []string
		for _, it := range splitTopLevel(s[1 : len(s)-1]) {
			if strings.TrimSpace(it) == "" {
				continue
			}
			v, ok := pyString(strings.TrimSpace(it))
			if !ok {
				return "", false
			}
			items = append(items, v)
		}
		return strings.Join(items, "\n"), true
	}
	return s, false
}

func pyString(s string) (string, bool) {
	if len(s) < 2 || (s[0] != '"' && s[0] != '\'') || s[len(s)-1] != s[0] {
		return "", false
	}
	if s[0] == '"' {
		if v, err := strconv.Unquote(s); err == nil {
			return v, true
		}
	}
	return s[1 : len(s)-1], true
}

// splitTopLevel splits on commas outside quotes.
func splitTopLevel(s string) []string {
	var out []string
	start := 0
	eachUnquoted(s, func(i int, c byte) bool {
		if c == ',' {
			out = append(out, s[start:i])
			start = i + 1
		}
		return true
	})
	return append(out, s[start:])
}

// commandLine is the command line a file holds: comments dropped, continuation lines joined, a
// systemd ExecStart= prefix taken off.
func commandLine(text string) []string {
	var parts []string
	for _, raw := range strings.Split(text, "\n") {
		t := strings.TrimSpace(raw)
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		if _, after, ok := strings.Cut(t, "ExecStart="); ok {
			t = after
		}
		parts = append(parts, strings.TrimSuffix(t, "\\"))
	}
	return shellWords(strings.Join(parts, " "))
}

// shellWords splits a command line as a shell would (quotes, backslashes, no expansion); a
// line shlex cannot split (an unclosed quote) is split on blanks, for doctor to say what it
// does not know rather than fail on the whole file.
func shellWords(s string) []string {
	w, err := shlex.Split(s)
	if err != nil {
		return strings.Fields(s)
	}
	return w
}

// gunicornFlags maps gunicorn's command-line options to their settings.
var gunicornFlags = map[string]string{
	"-w": "workers", "--workers": "workers", "-k": "worker_class", "--worker-class": "worker_class",
	"--threads": "threads", "-b": "bind", "--bind": "bind", "-e": "raw_env", "--env": "raw_env",
	"-c": "config", "--config": "config", "--pythonpath": "pythonpath", "--chdir": "chdir",
	"-t": "timeout", "--timeout": "timeout", "--access-logfile": "accesslog", "--error-logfile": "errorlog",
	"--log-level": "loglevel", "--access-logformat": "access_log_format", "-u": "user", "--user": "user",
	"-g": "group", "--group": "group", "--worker-connections": "worker_connections",
}

// gunicornArgs reads a command line into settings; a -c file is read first, as gunicorn does,
// so the command line's own options win.
func (d *Deployment) gunicornArgs(args []string, l Line, settings map[string]gunicornSetting) error {
	if len(args) > 0 && strings.Contains(filepath.Base(args[0]), "gunicorn") {
		args = args[1:]
	}
	l.Text = strings.Join(args, " ")
	cli := map[string]gunicornSetting{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--preload" {
			cli["preload_app"] = gunicornSetting{value: "true", known: true, line: l}
			continue
		}
		if !strings.HasPrefix(a, "-") {
			cli["wsgi_app"] = gunicornSetting{value: a, known: true, line: l}
			continue
		}
		name, val, hasVal := strings.Cut(a, "=")
		setting, ok := gunicornFlags[name]
		if !ok {
			continue // an option without a value that matters here
		}
		if !hasVal {
			if i+1 >= len(args) {
				return inputErr("%s: gunicorn option %s has no value", l.File, name)
			}
			i++
			val = args[i]
		}
		if setting == "raw_env" {
			if prev, ok := cli["raw_env"]; ok {
				val = prev.value + "\n" + val
			}
		}
		cli[setting] = gunicornSetting{value: val, known: true, line: l}
	}
	if c, ok := cli["config"]; ok {
		conf := c.value
		if !filepath.IsAbs(conf) && l.File != "(command line)" {
			conf = filepath.Join(filepath.Dir(l.File), conf)
		}
		if err := d.readGunicornPy(strings.TrimPrefix(conf, "file:"), settings); err != nil {
			return err
		}
	}
	for k, v := range cli {
		settings[k] = v
	}
	return nil
}

// moduleFile is the file of a dotted module in one of dirs, "" when none has it.
func moduleFile(mod string, dirs []string) string {
	rel := filepath.Join(strings.Split(mod, ".")...)
	for _, d := range dirs {
		d = strings.TrimSpace(d)
		if d == "" || !filepath.IsAbs(d) {
			continue
		}
		for _, f := range []string{filepath.Join(d, rel+".py"), filepath.Join(d, rel, "__init__.py")} {
			if fileExists(f) {
				return f
			}
		}
	}
	return ""
}
