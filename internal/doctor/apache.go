package doctor

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Apache's configuration is read as httpd reads it, in order: Include and IncludeOptional
// (globs and directories, relative to ServerRoot), <IfModule> against the modules loaded so
// far, <IfDefine> against Define, ${VAR} from Define and Debian's envvars. What it collects:
// the loaded MPM and its directives (server scope), mod_wsgi's WSGIDaemonProcess,
// WSGIProcessGroup, WSGIApplicationGroup, WSGIScriptAlias(Match) and WSGIImportScript, each
// with its virtual host.

// apacheVersion is what <IfVersion> is evaluated against: Debian 12's Apache, the one the lab
// measures.
var apacheVersion = [3]int{2, 4, 71}

// builtinModules are compiled into Debian's apache2 (apache2 -l): <IfModule> sees them
// without a LoadModule.
var builtinModules = []string{"core_module", "so_module", "watchdog_module", "http_module", "log_config_module",
	"logio_module", "version_module", "unixd_module"}

// Apache's compiled-in MPM defaults (httpd 2.4 documentation, mpm_common), for directives a
// configuration leaves out.
const (
	preforkStartServers      = 5
	preforkMinSpareServers   = 5
	preforkMaxSpareServers   = 10
	preforkMaxRequestWorkers = 256
	threadedThreadsPerChild  = 25
)

type apacheReader struct {
	d       *Deployment
	main    string
	root    string // ServerRoot
	local   string // the directory given (or the main file's), for a ServerRoot not on this machine
	defines map[string]string
	modules map[string]Line
	files   int

	mpm      map[string]apacheDirective // server-scope MPM directives, lower-case name -> last one
	daemons  []wsgiDaemon
	groups   []wsgiScoped // WSGIProcessGroup
	appGrps  []wsgiScoped // WSGIApplicationGroup
	aliases  []wsgiAlias
	imports  []wsgiAlias // WSGIImportScript
	restrict *Line       // WSGIRestrictEmbedded On
}

type apacheDirective struct {
	value string
	line  Line
}

type wsgiDaemon struct {
	name  string
	vhost string
	opts  map[string]string
	line  Line
}

type wsgiScoped struct {
	value string
	vhost string
	line  Line
}

type wsgiAlias struct {
	url, script string
	vhost       string
	opts        map[string]string
	line        Line
}

// ReadApache reads the Apache configuration at path: a directory (its apache2.conf or
// httpd.conf, and its envvars when there is one, as Debian's apache2ctl does) or one file (a
// whole httpd.conf, or one vhost file of a deployment). It adds a Service per WSGI script
// alias.
func (d *Deployment) ReadApache(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return inputErr("--apache: %v", err)
	}
	main := path
	if st.IsDir() {
		main = ""
		for _, n := range []string{"apache2.conf", "httpd.conf", "conf/httpd.conf"} {
			if _, err := os.Stat(filepath.Join(path, n)); err == nil {
				main = filepath.Join(path, n)
				break
			}
		}
		if main == "" {
			return inputErr("--apache %s: no apache2.conf or httpd.conf in it", path)
		}
		if envvars := filepath.Join(path, "envvars"); fileExists(envvars) {
			if err := d.ReadEnvFile(envvars); err != nil {
				return err
			}
		}
	}
	local := filepath.Dir(main)
	if st.IsDir() {
		local = path
	}
	r := &apacheReader{d: d, main: main, root: filepath.Dir(main), local: local, defines: map[string]string{}, modules: map[string]Line{},
		mpm: map[string]apacheDirective{}}
	for _, m := range builtinModules {
		r.modules[m] = Line{}
	}
	if err := r.readFile(main, 0); err != nil {
		return err
	}
	r.services()
	return nil
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// logicalLines splits a configuration file into directives: comments and blank lines dropped,
// backslash-continued lines joined; each keeps the number of its first line.
func logicalLines(text string) []Line {
	var out []Line
	var cur strings.Builder
	start := 0
	for i, raw := range strings.Split(text, "\n") {
		raw = strings.TrimRight(raw, "\r")
		if cur.Len() == 0 {
			start = i + 1
			if t := strings.TrimSpace(raw); t == "" || strings.HasPrefix(t, "#") {
				continue
			}
		}
		if strings.HasSuffix(raw, "\\") {
			cur.WriteString(strings.TrimSuffix(raw, "\\"))
			cur.WriteString(" ")
			continue
		}
		cur.WriteString(raw)
		out = append(out, Line{Line: start, Text: strings.TrimSpace(cur.String())})
		cur.Reset()
	}
	if cur.Len() > 0 {
		out = append(out, Line{Line: start, Text: strings.TrimSpace(cur.String())})
	}
	return out
}

// apacheArgs splits a directive's arguments: double- or single-quoted arguments keep their
// spaces.
func apacheArgs(s string) []string {
	var out []string
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimSpace(s) {
		if q := s[0]; q == '"' || q == '\'' {
			end := strings.IndexByte(s[1:], q)
			if end < 0 {
				out = append(out, s[1:])
				break
			}
			out = append(out, s[1:1+end])
			s = s[2+end:]
			continue
		}
		end := strings.IndexAny(s, " \t")
		if end < 0 {
			out = append(out, s)
			break
		}
		out = append(out, s[:end])
		s = s[end:]
	}
	return out
}

var apacheVar = regexp.MustCompile(`\$\{([^}]+)\}`)

func (r *apacheReader) expand(s string) string {
	return apacheVar.ReplaceAllStringFunc(s, func(m string) string {
		name := m[2 : len(m)-1]
		if v, ok := r.defines[name]; ok {
			return v
		}
		if v, ok := r.d.Env.Lookup(name); ok {
			return v
		}
		return m
	})
}

// section is an open <Section> of the file being read.
type section struct {
	name  string
	vhost string // the virtual host it is in ("" = the main server)
}

const maxIncludeDepth = 16

func (r *apacheReader) readFile(path string, depth int) error {
	if depth > maxIncludeDepth {
		return inputErr("--apache: includes nested deeper than %d at %s (an Include loop?)", maxIncludeDepth, path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return inputErr("--apache: %v", err)
	}
	r.d.read(path)
	r.files++
	lines := logicalLines(string(b))
	var stack []section
	vhost := func() string {
		if len(stack) == 0 {
			return ""
		}
		return stack[len(stack)-1].vhost
	}
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		l.File = path
		text := r.expand(l.Text)
		if strings.HasPrefix(text, "</") {
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
			continue
		}
		if strings.HasPrefix(text, "<") {
			name, arg, _ := strings.Cut(strings.TrimSuffix(strings.TrimPrefix(text, "<"), ">"), " ")
			name, arg = strings.ToLower(strings.TrimSpace(name)), strings.TrimSpace(arg)
			if on, conditional := r.condition(name, arg); conditional && !on {
				i = skipSection(lines, i)
				continue
			}
			if name == "macro" {
				// mod_macro's body is a template expanded by Use: not a configuration as it stands.
				r.d.note("%s:%d: <Macro> bodies and Use are not expanded", path, l.Line)
				i = skipSection(lines, i)
				continue
			}
			s := section{name: name, vhost: vhost()}
			if name == "virtualhost" {
				s.vhost = arg
			}
			stack = append(stack, s)
			continue
		}
		fields := apacheArgs(text)
		if len(fields) == 0 {
			continue
		}
		if err := r.directive(strings.ToLower(fields[0]), fields[1:], l, vhost(), depth); err != nil {
			return err
		}
	}
	return nil
}

// skipSection returns the index of the line that closes the section opened at lines[i].
func skipSection(lines []Line, i int) int {
	depth := 0
	for ; i < len(lines); i++ {
		t := lines[i].Text
		switch {
		case strings.HasPrefix(t, "</"):
			depth--
		case strings.HasPrefix(t, "<"):
			depth++
		}
		if depth == 0 {
			return i
		}
	}
	return i
}

// condition evaluates a conditional section; conditional is false for other sections.
func (r *apacheReader) condition(name, arg string) (on, conditional bool) {
	arg = strings.Trim(arg, `"'`)
	neg := strings.HasPrefix(arg, "!")
	arg = strings.TrimPrefix(arg, "!")
	switch name {
	case "ifmodule":
		_, on = r.modules[moduleID(arg)]
	case "ifdefine":
		_, on = r.defines[arg]
	case "ifversion":
		return versionMatches(arg), true
	case "iffile":
		p := arg
		if !filepath.IsAbs(p) {
			p = filepath.Join(r.root, p)
		}
		_, err := os.Stat(p)
		on = err == nil
	default:
		return true, false
	}
	return on != neg, true
}

// moduleID is a module's identifier as LoadModule names it: <IfModule> takes that
// ("wsgi_module") or the source file's name ("mod_wsgi.c", "prefork.c").
func moduleID(s string) string {
	if !strings.HasSuffix(s, ".c") {
		return s
	}
	base := strings.TrimSuffix(s, ".c")
	switch base {
	case "prefork", "worker", "event":
		return "mpm_" + base + "_module"
	case "http_core":
		return "http_module"
	}
	return strings.TrimPrefix(base, "mod_") + "_module"
}

// versionMatches evaluates <IfVersion [op] version> for apacheVersion.
func versionMatches(arg string) bool {
	f := strings.Fields(arg)
	op, want := "=", ""
	switch len(f) {
	case 1:
		want = f[0]
	case 2:
		op, want = f[0], f[1]
	default:
		return true
	}
	if strings.HasPrefix(want, "/") || op == "~" {
		return true // a regular expression: not worth evaluating
	}
	var v [3]int
	for i, p := range strings.SplitN(want, ".", 3) {
		v[i], _ = strconv.Atoi(p)
	}
	c := 0
	for i := range v {
		if apacheVersion[i] != v[i] {
			c = map[bool]int{true: 1, false: -1}[apacheVersion[i] > v[i]]
			break
		}
	}
	switch op {
	case "=", "==":
		return c == 0
	case ">":
		return c > 0
	case ">=":
		return c >= 0
	case "<":
		return c < 0
	case "<=":
		return c <= 0
	}
	return true
}

// mpmDirectives are the MPM's knobs, by their lower-case names (old names mapped).
var mpmDirectives = map[string]string{
	"startservers": "StartServers", "minspareservers": "MinSpareServers", "maxspareservers": "MaxSpareServers",
	"maxrequestworkers": "MaxRequestWorkers", "maxclients": "MaxRequestWorkers", "serverlimit": "ServerLimit",
	"threadsperchild": "ThreadsPerChild", "threadlimit": "ThreadLimit", "minsparethreads": "MinSpareThreads",
	"maxsparethreads": "MaxSpareThreads", "maxconnectionsperchild": "MaxConnectionsPerChild",
	"maxrequestsperchild": "MaxConnectionsPerChild",
}

func (r *apacheReader) directive(name string, args []string, l Line, vhost string, depth int) error {
	switch name {
	case "serverroot":
		if len(args) > 0 {
			r.root = args[0]
		}
	case "define":
		if len(args) > 0 {
			v := ""
			if len(args) > 1 {
				v = args[1]
			}
			r.defines[args[0]] = v
		}
	case "undefine":
		if len(args) > 0 {
			delete(r.defines, args[0])
		}
	case "loadmodule":
		if len(args) > 0 {
			r.modules[args[0]] = l
		}
	case "include", "includeoptional":
		for _, a := range args {
			if err := r.include(a, name == "includeoptional", l, depth); err != nil {
				return err
			}
		}
	case "wsgidaemonprocess":
		if len(args) > 0 {
			r.daemons = append(r.daemons, wsgiDaemon{name: args[0], vhost: vhost, opts: keyValues(args[1:]), line: l})
		}
	case "wsgiprocessgroup":
		if len(args) > 0 {
			r.groups = append(r.groups, wsgiScoped{value: args[0], vhost: vhost, line: l})
		}
	case "wsgiapplicationgroup":
		if len(args) > 0 {
			r.appGrps = append(r.appGrps, wsgiScoped{value: args[0], vhost: vhost, line: l})
		}
	case "wsgiscriptalias", "wsgiscriptaliasmatch":
		if len(args) >= 2 {
			r.aliases = append(r.aliases, wsgiAlias{url: args[0], script: args[1], vhost: vhost, opts: keyValues(args[2:]), line: l})
		}
	case "wsgiimportscript":
		if len(args) >= 1 {
			r.imports = append(r.imports, wsgiAlias{script: args[0], vhost: vhost, opts: keyValues(args[1:]), line: l})
		}
	case "wsgirestrictembedded":
		if len(args) > 0 && strings.EqualFold(args[0], "on") {
			ll := l
			r.restrict = &ll
		}
	default:
		if canon, ok := mpmDirectives[name]; ok && vhost == "" && len(args) > 0 {
			r.mpm[strings.ToLower(canon)] = apacheDirective{value: args[0], line: l}
		}
	}
	return nil
}

// include reads what an Include names: a file, a directory (every file in it and below, in
// order) or a glob. Include fails on what does not exist, as httpd does; IncludeOptional and a
// glob matching nothing do not.
func (r *apacheReader) include(pattern string, optional bool, l Line, depth int) error {
	// A configuration copied from another machine (a container's /etc/httpd, a support
	// bundle): its ServerRoot is not here, and the files are below the directory given.
	moved := false
	if _, err := os.Stat(r.root); err != nil && r.local != "" && r.local != r.root {
		moved = true
	}
	switch {
	case !filepath.IsAbs(pattern) && moved:
		pattern = filepath.Join(r.local, pattern)
	case !filepath.IsAbs(pattern):
		pattern = filepath.Join(r.root, pattern)
	case moved && strings.HasPrefix(pattern, strings.TrimSuffix(r.root, "/")+"/"):
		pattern = filepath.Join(r.local, strings.TrimPrefix(pattern, strings.TrimSuffix(r.root, "/")+"/"))
	}
	if moved {
		r.d.note("ServerRoot %s is not on this machine: the paths under it are taken from %s", r.root, r.local)
	}
	var files []string
	if strings.ContainsAny(pattern, "*?[") {
		matches, err := filepath.Glob(pattern)
		if err != nil {
			return inputErr("%s:%d: Include %s: %v", l.File, l.Line, pattern, err)
		}
		for _, m := range matches {
			files = append(files, expandDir(m)...)
		}
	} else {
		if _, err := os.Stat(pattern); err != nil {
			if optional {
				return nil
			}
			return inputErr("%s:%d: Include %s: %v", l.File, l.Line, pattern, err)
		}
		files = expandDir(pattern)
	}
	for _, f := range files {
		if err := r.readFile(f, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// expandDir is path, or every regular file below it when it is a directory, sorted.
func expandDir(path string) []string {
	st, err := os.Stat(path)
	if err != nil {
		return nil
	}
	if !st.IsDir() {
		return []string{path}
	}
	var out []string
	filepath.WalkDir(path, func(p string, e os.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			out = append(out, p)
		}
		return nil
	})
	sort.Strings(out)
	return out
}

// keyValues reads mod_wsgi's name=value options.
func keyValues(args []string) map[string]string {
	out := map[string]string{}
	for _, a := range args {
		k, v, _ := strings.Cut(a, "=")
		out[strings.ToLower(k)] = v
	}
	return out
}

// loadedMPM is the MPM module loaded, and its LoadModule line.
func (r *apacheReader) loadedMPM() (string, Line) {
	for _, m := range []string{"prefork", "worker", "event"} {
		if l, ok := r.modules["mpm_"+m+"_module"]; ok {
			return m, l
		}
	}
	return "", Line{}
}

func (r *apacheReader) mpmInt(name string, def int) (int, Line, bool) {
	dir, ok := r.mpm[strings.ToLower(name)]
	if !ok {
		return def, Line{}, false
	}
	v, err := strconv.Atoi(dir.value)
	if err != nil {
		return def, dir.line, false
	}
	return v, dir.line, true
}

// services turns what was read into one Service per WSGI script alias.
func (r *apacheReader) services() {
	mpm, mpmLine := r.loadedMPM()
	if len(r.aliases) == 0 {
		if r.files > 0 {
			r.d.note("Apache: no WSGIScriptAlias in %s and what it includes: no WSGI application to examine", r.main)
		}
		return
	}
	if _, ok := r.modules["wsgi_module"]; !ok && mpm != "" {
		r.d.note("Apache: mod_wsgi is not loaded (no LoadModule wsgi_module) though WSGI directives are present")
	}
	for _, a := range r.aliases {
		s := &Service{Server: Apache, MPM: mpm, Script: a.script, PythonThreads: true}
		s.setLine("mpm", mpmLine)
		s.setLine("script", a.line)
		group, gline := a.opts["process-group"], a.line
		if group == "" {
			if g, ok := r.scoped(r.groups, a.vhost); ok {
				group, gline = g.value, g.line
			}
		}
		if group == "" || group == "%{GLOBAL}" {
			r.embedded(s, a, gline, mpm)
		} else {
			r.daemon(s, a, group, gline)
		}
		r.d.Services = append(r.d.Services, s)
	}
}

// scoped is the directive that applies in vhost: the vhost's own, else the main server's.
func (r *apacheReader) scoped(ds []wsgiScoped, vhost string) (wsgiScoped, bool) {
	for _, want := range []string{vhost, ""} {
		for _, d := range ds {
			if d.vhost == want {
				return d, true
			}
		}
		if vhost == "" {
			break
		}
	}
	return wsgiScoped{}, false
}

func (r *apacheReader) embedded(s *Service, a wsgiAlias, gline Line, mpm string) {
	s.Mode, s.Name = "embedded", "embedded "+a.url
	if a.vhost != "" {
		s.Name += " (" + a.vhost + ")"
	}
	s.setLine("mode", gline)
	if r.restrict != nil {
		r.d.note("%s: WSGIRestrictEmbedded On: %s has no daemon process group, so mod_wsgi refuses its requests", r.restrict, a.script)
	}
	switch mpm {
	case "prefork":
		s.Threads = 1
		s.setLine("threads", s.Lines["mpm"])
		sp := &Spare{}
		var l1, l2, l3, l4 Line
		var set1, set2 bool
		sp.StartServers, l1, _ = r.mpmInt("StartServers", preforkStartServers)
		sp.MinSpareServers, l2, set1 = r.mpmInt("MinSpareServers", preforkMinSpareServers)
		sp.MaxSpareServers, l3, set2 = r.mpmInt("MaxSpareServers", preforkMaxSpareServers)
		sp.MaxRequestWorkers, l4, _ = r.mpmInt("MaxRequestWorkers", preforkMaxRequestWorkers)
		if sl, _, ok := r.mpmInt("ServerLimit", 0); ok && sl < sp.MaxRequestWorkers {
			sp.MaxRequestWorkers = sl
		}
		sp.Defaults = (!set1 || sp.MinSpareServers == preforkMinSpareServers) && (!set2 || sp.MaxSpareServers == preforkMaxSpareServers)
		s.Spare = sp
		for _, l := range []Line{l3, l2, l4, l1} {
			if l.File != "" {
				s.setLine("spare", l)
				break
			}
		}
		if _, ok := s.Lines["spare"]; !ok {
			s.setLine("spare", s.Lines["mpm"])
		}
	case "worker", "event":
		v, l, _ := r.mpmInt("ThreadsPerChild", threadedThreadsPerChild)
		s.Threads = v
		if l.File == "" {
			l = s.Lines["mpm"]
		}
		s.setLine("threads", l)
	default:
		r.d.note("Apache: no MPM is loaded in what was read (no LoadModule mpm_*_module): the threads of %s's embedded processes are unknown; give --apache the whole configuration", a.script)
	}
}

func (r *apacheReader) daemon(s *Service, a wsgiAlias, group string, gline Line) {
	s.Mode, s.Name = "daemon", group
	var dp *wsgiDaemon
	for _, want := range []string{a.vhost, ""} {
		for i := range r.daemons {
			if r.daemons[i].name == group && r.daemons[i].vhost == want {
				dp = &r.daemons[i]
				break
			}
		}
		if dp != nil {
			break
		}
	}
	if strings.HasPrefix(group, "%{") {
		r.d.note("%s: process group %s is chosen per request: not evaluated", gline, group)
	}
	if dp == nil {
		r.d.note("%s: no WSGIDaemonProcess %q is defined where %s is served (mod_wsgi refuses the request); taken as mod_wsgi's defaults", gline, group, a.script)
		s.Processes, s.Threads = 1, 15
		s.setLine("mode", gline)
		return
	}
	s.setLine("mode", dp.line)
	s.setLine("processes", dp.line)
	s.setLine("threads", dp.line)
	if gline != a.line {
		s.setLine("group", gline)
	}
	s.Processes, s.Threads = 1, 15
	if v, err := strconv.Atoi(dp.opts["processes"]); err == nil {
		s.Processes = v
	}
	if v, err := strconv.Atoi(dp.opts["threads"]); err == nil {
		s.Threads = v
	}
	// Preloading: process-group and application-group both given on the alias, or an
	// import script for the group.
	if a.opts["process-group"] != "" && a.opts["application-group"] != "" {
		s.Preload = true
	}
	for _, im := range r.imports {
		if im.opts["process-group"] == group {
			s.Preload = true
		}
	}
}
