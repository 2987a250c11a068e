package doctor

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// uwsgiOption is one option of a uWSGI ini, as uWSGI reads it.
type uwsgiOption struct {
	value string
	line  Line
}

// ReadUWSGI reads a uWSGI ini file ([uwsgi] section, or "FILE:section" as uwsgi --ini takes
// it), following ini = includes, and adds its Service. Values are read as uWSGI reads them:
// %% is %, %d the file's directory (with a trailing slash), %n its name without extension,
// %p its path, %(name) an option set before; flags (enable-threads, lazy-apps) are on unless
// their value is false, off, no or 0.
func (d *Deployment) ReadUWSGI(spec string) error {
	path, sectionName := spec, "uwsgi"
	if i := strings.LastIndexByte(spec, ':'); i > 0 && !fileExists(spec) {
		path, sectionName = spec[:i], spec[i+1:]
	}
	opts := map[string][]uwsgiOption{}
	if err := d.readIni(path, sectionName, opts, 0); err != nil {
		return err
	}
	last := func(k string) (uwsgiOption, bool) {
		for _, alias := range uwsgiAliases[k] {
			if v := opts[alias]; len(v) > 0 {
				return v[len(v)-1], true
			}
		}
		return uwsgiOption{}, false
	}
	flag := func(k string) (bool, Line) {
		o, ok := last(k)
		if !ok {
			return false, Line{}
		}
		switch strings.ToLower(o.value) {
		case "false", "off", "no", "0":
			return false, o.line
		}
		return true, o.line
	}
	s := &Service{Server: UWSGI, Name: filepath.Base(path), Processes: 1, Threads: 1}
	if o, ok := last("processes"); ok {
		if v, err := strconv.Atoi(o.value); err == nil {
			s.Processes = v
			s.setLine("processes", o.line)
		}
	}
	if o, ok := last("threads"); ok {
		if v, err := strconv.Atoi(o.value); err == nil {
			s.Threads = v
			s.setLine("threads", o.line)
		}
	}
	// uWSGI runs Python threads other than the request's only with --enable-threads, or
	// when it runs more than one request thread per worker itself (its startup line says
	// "Python threads support is disabled" otherwise).
	on, l := flag("enable-threads")
	s.PythonThreads = on || s.Threads > 1
	switch {
	case on:
		s.setLine("python_threads", l)
	case s.Threads > 1:
		s.setLine("python_threads", s.Lines["threads"])
	default:
		s.setLine("python_threads", Line{File: path, Text: "(no enable-threads: uWSGI's default is off)"})
	}
	s.LazyApps, l = flag("lazy-apps")
	s.setLine("lazy_apps", l)
	// Without lazy-apps the master imports the app and the workers fork after it.
	s.Preload = !s.LazyApps
	if o, ok := last("wsgi-file"); ok {
		s.Script = o.value
		if c, ok := last("chdir"); ok && !filepath.IsAbs(s.Script) {
			s.Script = filepath.Join(c.value, s.Script)
		}
		s.setLine("script", o.line)
	} else if o, ok := last("module"); ok {
		s.Script = o.value
		s.setLine("script", o.line)
	}
	for _, o := range opts["env"] {
		k, v, ok := strings.Cut(o.value, "=")
		if ok {
			if d.Env == nil {
				d.Env = Env{}
			}
			d.Env.set(k, v, o.line)
		}
	}
	for _, loop := range []string{"gevent", "async", "greenlet"} {
		if o, ok := opts[loop]; ok {
			d.note("%s: uWSGI's %s loop engine is not one the lab has measured", o[0].line, loop)
		}
	}
	s.setLine("mode", opts[sectionKey][0].line)
	d.Services = append(d.Services, s)
	return nil
}

// uwsgiAliases are the names an option goes by (the first is the one wsgilab writes).
var uwsgiAliases = map[string][]string{
	"processes":      {"processes", "workers", "p"},
	"threads":        {"threads"},
	"enable-threads": {"enable-threads", "T"},
	"lazy-apps":      {"lazy-apps"},
	"wsgi-file":      {"wsgi-file", "file"},
	"module":         {"module", "wsgi", "w"},
	"chdir":          {"chdir"},
}

var (
	iniSection = regexp.MustCompile(`^\[([^\]]+)\]$`)
	uwsgiMagic = regexp.MustCompile(`%\([^)]*\)|%.`)
)

const maxIniDepth = 8

// sectionKey holds the line of the section's header among the options.
const sectionKey = "[section]"

func (d *Deployment) readIni(path, sectionName string, opts map[string][]uwsgiOption, depth int) error {
	if depth > maxIniDepth {
		return inputErr("--uwsgi: ini = includes nested deeper than %d at %s", maxIniDepth, path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return inputErr("--uwsgi: %v", err)
	}
	d.read(path)
	abs, _ := filepath.Abs(path)
	in := false
	found := false
	for i, raw := range strings.Split(string(b), "\n") {
		t := strings.TrimSpace(raw)
		if t == "" || strings.HasPrefix(t, ";") || strings.HasPrefix(t, "#") {
			continue
		}
		if m := iniSection.FindStringSubmatch(t); m != nil {
			in = strings.TrimSpace(m[1]) == sectionName
			if in && !found && depth == 0 {
				opts[sectionKey] = []uwsgiOption{{line: Line{File: path, Line: i + 1, Text: t}}}
			}
			found = found || in
			continue
		}
		if !in {
			continue
		}
		k, v, ok := strings.Cut(t, "=")
		if !ok {
			// A bare option name is a flag that is on.
			k, v = t, "true"
		}
		k = strings.ReplaceAll(strings.TrimSpace(k), "_", "-")
		v = uwsgiExpand(strings.TrimSpace(v), abs, opts)
		l := Line{File: path, Line: i + 1, Text: t}
		if k == "ini" {
			inc := v
			if !filepath.IsAbs(inc) {
				inc = filepath.Join(filepath.Dir(path), inc)
			}
			if err := d.readIni(inc, sectionName, opts, depth+1); err != nil {
				return err
			}
			continue
		}
		opts[k] = append(opts[k], uwsgiOption{value: v, line: l})
	}
	if !found && depth == 0 {
		return inputErr("--uwsgi %s: no [%s] section", path, sectionName)
	}
	return nil
}

// uwsgiExpand applies uWSGI's %-sequences of config files to a value.
func uwsgiExpand(v, path string, opts map[string][]uwsgiOption) string {
	return uwsgiMagic.ReplaceAllStringFunc(v, func(m string) string {
		if strings.HasPrefix(m, "%(") {
			name := m[2 : len(m)-1]
			if o := opts[name]; len(o) > 0 {
				return o[len(o)-1].value
			}
			return m
		}
		base := filepath.Base(path)
		switch m[1] {
		case '%':
			return "%"
		case 'd':
			return filepath.Dir(path) + "/"
		case 'p':
			return path
		case 's':
			return base
		case 'n':
			return strings.TrimSuffix(base, filepath.Ext(base))
		case 'e':
			return filepath.Ext(base)
		case 'c':
			return filepath.Base(filepath.Dir(path))
		}
		return m
	})
}
