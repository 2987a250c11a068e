package doctor

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// App is what a static reading of a WSGI file (and of the modules it imports, when they are
// installed here) says about the three things the rules need: does importing it call
// eventlet.monkey_patch(), does it use oslo.messaging (and create a transport at import), and
// does it set TCP keepalive on its AMQP sockets itself. Nothing is executed: a call under an
// if is judged by evaluating the condition with the environment the configuration gives the
// app (Env), for the forms such guards take (os.environ.get(...) compared, lowered, negated;
// a module-level name bound to such an expression); anything else is "unknown".
//
// JSON: {"file": "/usr/bin/nova-api-wsgi", "monkey_patch": "yes", "monkey_patch_line": Line,
// "guard": "os.environ.get(\"WSGILAB_MONKEY_PATCH\", \"0\") == \"1\"", "oslo_messaging": "yes",
// "oslo_line": Line, "transport_at_import": true, "transport_line": Line, "keepalive": "no"}
type App struct {
	File string `json:"file"`
	// MonkeyPatch is "yes" (a call runs at import), "no" (no call runs at import: none in the
	// file and the modules it imports that could be read, or every one under a false guard)
	// or "unknown" (an undecidable guard, or imports that could not be read).
	MonkeyPatch     string `json:"monkey_patch"`
	MonkeyPatchLine *Line  `json:"monkey_patch_line,omitempty"`
	// Guard is the condition the call runs under ("" when none), GuardVars the environment
	// variables it reads.
	Guard     string   `json:"guard,omitempty"`
	GuardVars []string `json:"guard_vars,omitempty"`
	// OsloMessaging is "yes" when oslo_messaging is imported, "unknown" otherwise (it may be
	// imported by a module not read).
	OsloMessaging     string `json:"oslo_messaging"`
	OsloLine          *Line  `json:"oslo_line,omitempty"`
	TransportAtImport bool   `json:"transport_at_import,omitempty"`
	TransportLine     *Line  `json:"transport_line,omitempty"`
	// Keepalive is "yes" when the app sets TCP keepalive on its AMQP sockets itself (kombu
	// socket_settings with TCP_KEEPIDLE; oslo.messaging has no option for it), else "no".
	Keepalive     string `json:"keepalive"`
	KeepaliveLine *Line  `json:"keepalive_line,omitempty"`
	// Unread are imported modules that could not be read here (not installed on this machine).
	Unread []string `json:"unread,omitempty"`
}

// Tri-state answers of App.
const (
	Yes     = "yes"
	No      = "no"
	Unknown = "unknown"
)

// pythonPath is where imported modules are looked for, after the script's own directory:
// Debian's and RHEL's system packages, and pip's.
var pythonPath = []string{"/usr/lib/python3/dist-packages", "/usr/local/lib/python3/dist-packages"}

// globPythonPath adds the versioned site directories (python3.11, ...) that exist here.
func globPythonPath() []string {
	out := append([]string(nil), pythonPath...)
	for _, g := range []string{"/usr/local/lib/python3.*/dist-packages", "/usr/lib/python3.*/site-packages",
		"/usr/lib64/python3.*/site-packages", "/usr/local/lib/python3.*/site-packages"} {
		m, _ := filepath.Glob(g)
		out = append(out, m...)
	}
	return out
}

// nonPatching are frameworks known not to monkey-patch or use oslo.messaging at import: their
// imports need not be read.
var nonPatching = map[string]bool{"django": true, "flask": true, "pyramid": true, "falcon": true, "bottle": true,
	"werkzeug": true, "paste": true, "webob": true, "routes": true}

// library says a top-level package is a library, which does not monkey-patch when imported
// (an application does, in its own package): OpenStack's oslo libraries and the AMQP and
// eventlet stack under them.
func library(top string) bool {
	return strings.HasPrefix(top, "oslo_") || libraries[top]
}

var libraries = map[string]bool{"kombu": true, "amqp": true, "greenlet": true, "six": true, "pbr": true,
	"keystoneauth1": true, "keystonemiddleware": true, "sqlalchemy": true, "stevedore": true, "debtcollector": true,
	"requests": true, "urllib3": true, "yaml": true, "jinja2": true, "prometheus_client": true}

// maxModules bounds how many imported modules are read.
const maxModules = 200

// ReadApp reads the WSGI file at path (see App) with the environment read so far.
func (d *Deployment) ReadApp(path string) (*App, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, inputErr("--app: %v", err)
	}
	d.read(path)
	a := &App{File: path, MonkeyPatch: No, OsloMessaging: Unknown, Keepalive: No}
	sc := &appScan{env: d.Env, seen: map[string]bool{}, path: append([]string{filepath.Dir(path)}, globPythonPath()...)}
	if err := sc.scan(a, path, "", 0); err != nil {
		return nil, err
	}
	for _, f := range sc.files {
		d.read(f)
	}
	if a.MonkeyPatch == No && len(a.Unread) > 0 {
		a.MonkeyPatch = Unknown
	}
	sort.Strings(a.Unread)
	return a, nil
}

type appScan struct {
	files []string // every file read, in order
	env   Env
	seen  map[string]bool
	path  []string
	count int
}

var (
	importLine  = regexp.MustCompile(`^(?:from\s+([\w.]+)\s+import\s+(.+)|import\s+(.+))$`)
	patchCall   = regexp.MustCompile(`(?:\beventlet\.(?:patcher\.)?)?\bmonkey_patch\s*\(`)
	transportRE = regexp.MustCompile(`\b(?:get_rpc_transport|get_transport|get_notification_transport)\s*\(`)
	keepaliveRE = regexp.MustCompile(`\bsocket_settings\b|\bTCP_KEEPIDLE\b`)
	// loadsFile finds a file executed by path rather than imported: a WSGI file loaded by a
	// wrapper module (importlib's SourceFileLoader, runpy.run_path, exec(open(...))).
	loadsFile   = regexp.MustCompile(`(?:SourceFileLoader\([^,]*,\s*|run_path\(\s*|exec\(\s*open\(\s*)["']([^"']+)["']`)
	defLine     = regexp.MustCompile(`^(?:async\s+)?def\s+(\w+)\s*\(`)
	assignLine  = regexp.MustCompile(`^([A-Za-z_]\w*)\s*=\s*([^=].*)$`)
	blockHeader = regexp.MustCompile(`^(if|elif|else|while|for|with|try|except|finally|class)\b(.*):\s*$`)
)

// pyStmt is one logical line of Python: its first line's number, indentation and text.
type pyStmt struct {
	line   int
	indent int
	text   string
}

// pyStatements splits Python source into logical lines: comments, blank lines and string
// blocks (docstrings) dropped, bracketed continuations joined.
func pyStatements(src string) []pyStmt {
	var out []pyStmt
	lines := strings.Split(src, "\n")
	inTriple := ""
	for i := 0; i < len(lines); i++ {
		raw := strings.TrimRight(lines[i], "\r")
		t := strings.TrimSpace(raw)
		if inTriple != "" {
			if strings.Contains(t, inTriple) {
				inTriple = ""
			}
			continue
		}
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		for _, q := range []string{`"""`, `'''`} {
			if strings.HasPrefix(t, q) || strings.HasPrefix(t, "r"+q) || strings.HasPrefix(t, "u"+q) {
				if strings.Count(t, q) == 1 {
					inTriple = q
				}
				t = ""
			}
		}
		if t == "" {
			continue
		}
		st := pyStmt{line: i + 1, indent: len(raw) - len(strings.TrimLeft(raw, " \t")), text: stripComment(t)}
		for depth(st.text) > 0 && i+1 < len(lines) {
			i++
			st.text += " " + stripComment(strings.TrimSpace(lines[i]))
		}
		out = append(out, st)
	}
	return out
}

// eachUnquoted calls f with the index and byte of each character of Python source s that is
// outside a string literal (quotes and what they hold, escapes included, are skipped), until f
// returns false. Enough for the one-line statements doctor reads: no triple quotes spanning
// lines.
func eachUnquoted(s string, f func(i int, c byte) bool) {
	var q byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case q != 0:
			if c == '\\' {
				i++
			} else if c == q {
				q = 0
			}
		case c == '"' || c == '\'':
			q = c
		default:
			if !f(i, c) {
				return
			}
		}
	}
}

// stripComment drops a # comment outside quotes.
func stripComment(s string) string {
	cut := -1
	eachUnquoted(s, func(i int, c byte) bool {
		if c == '#' {
			cut = i
		}
		return cut < 0
	})
	if cut >= 0 {
		return strings.TrimSpace(s[:cut])
	}
	return s
}

// depth is how many brackets s leaves open.
func depth(s string) int {
	n := 0
	eachUnquoted(s, func(_ int, c byte) bool {
		switch c {
		case '(', '[', '{':
			n++
		case ')', ']', '}':
			n--
		}
		return true
	})
	return n
}

// scan reads one file: its import-time calls, then the modules it imports at module level.
// pkg is the top-level package the file belongs to ("" for the WSGI file and what it loads by
// path).
func (sc *appScan) scan(a *App, file, pkg string, level int) error {
	abs, _ := filepath.Abs(file)
	if sc.seen[abs] || sc.count >= maxModules {
		return nil
	}
	sc.seen[abs] = true
	sc.count++
	b, err := os.ReadFile(file)
	if err != nil {
		if level == 0 {
			return inputErr("--app: %v", err)
		}
		return nil
	}
	sc.files = append(sc.files, file)
	stmts := pyStatements(string(b))
	m := &pyModule{file: file, stmts: stmts, env: sc.env}
	for idx, st := range stmts {
		l := Line{File: file, Line: st.line, Text: st.text}
		if strings.HasPrefix(st.text, "def ") || strings.HasPrefix(st.text, "class ") {
			continue
		}
		if patchCall.MatchString(st.text) && !strings.Contains(st.text, "def monkey_patch") {
			runs, guard, vars := m.runsAtImport(idx, 0)
			switch {
			case runs == Yes && a.MonkeyPatch != Yes:
				a.MonkeyPatch, a.MonkeyPatchLine, a.Guard, a.GuardVars = Yes, &l, guard, vars
			case runs == Unknown && a.MonkeyPatch == No:
				a.MonkeyPatch, a.MonkeyPatchLine, a.Guard, a.GuardVars = Unknown, &l, guard, vars
			case runs == No && a.MonkeyPatchLine == nil:
				// Recorded so the report can say which call does not run, and why.
				a.MonkeyPatchLine, a.Guard, a.GuardVars = &l, guard, vars
			}
		}
		if transportRE.MatchString(st.text) && !a.TransportAtImport {
			if runs, _, _ := m.runsAtImport(idx, 0); runs == Yes {
				a.TransportAtImport, a.TransportLine = true, &l
			}
		}
		if keepaliveRE.MatchString(st.text) && a.Keepalive != Yes {
			if runs, _, _ := m.runsAtImport(idx, 0); runs != No {
				a.Keepalive, a.KeepaliveLine = Yes, &l
			}
		}
		if lf := loadsFile.FindStringSubmatch(st.text); lf != nil {
			if runs, _, _ := m.runsAtImport(idx, 0); runs != No {
				if err := sc.scan(a, lf[1], "", level); err != nil {
					return err
				}
			}
		}
		im := importLine.FindStringSubmatch(st.text)
		if im == nil {
			continue
		}
		for _, mod := range importedModules(im) {
			top := strings.SplitN(mod, ".", 2)[0]
			if top == "oslo_messaging" && a.OsloMessaging != Yes {
				a.OsloMessaging, a.OsloLine = Yes, &l
			}
			if top == "eventlet" || nonPatching[top] || library(top) {
				continue
			}
			// An application monkey-patches in its own package (nova in nova/...); from there on
			// only that package's imports are followed, not the libraries it uses.
			if level > 0 && top != pkg {
				continue
			}
			// Only what runs at import is followed: an import inside a function that import
			// calls is followed too (nova's init_application imports at call time).
			if runs, _, _ := m.runsAtImport(idx, 0); runs == No {
				continue
			}
			files, found, stdlib := sc.resolve(mod)
			if stdlib {
				continue
			}
			if !found {
				if level == 0 && !contains(a.Unread, top) {
					a.Unread = append(a.Unread, top)
				}
				continue
			}
			for _, f := range files {
				if err := sc.scan(a, f, top, level+1); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// importedModules lists the modules an import statement imports ("from a.b import c" imports a.b
// and, when c is a submodule, a.b.c).
func importedModules(m []string) []string {
	var out []string
	if m[1] != "" {
		if strings.HasPrefix(m[1], ".") {
			return nil // relative: inside a package already being read
		}
		out = append(out, m[1])
		for _, n := range strings.Split(strings.Trim(m[2], "() "), ",") {
			n = strings.Fields(strings.TrimSpace(n) + " ")[0]
			if n != "*" && n != "" {
				out = append(out, m[1]+"."+n)
			}
		}
		return out
	}
	for _, n := range strings.Split(m[3], ",") {
		if f := strings.Fields(n); len(f) > 0 {
			out = append(out, f[0])
		}
	}
	return out
}

// resolve finds a module's files on the search path: the package __init__.py files on the
// way and the module itself. stdlib says it is the standard library's (not read).
func (sc *appScan) resolve(mod string) (files []string, found, stdlib bool) {
	parts := strings.Split(mod, ".")
	for _, dir := range sc.path {
		base := filepath.Join(dir, parts[0])
		if !fileExists(base+".py") && !fileExists(filepath.Join(base, "__init__.py")) {
			continue
		}
		cur := dir
		for _, p := range parts {
			cur = filepath.Join(cur, p)
			if init := filepath.Join(cur, "__init__.py"); fileExists(init) {
				files = append(files, init)
				continue
			}
			// "from pkg import name" may name no submodule: then the package is all there is.
			if fileExists(cur + ".py") {
				files = append(files, cur+".py")
			}
			break
		}
		return files, true, false
	}
	// The standard library: /usr/lib/python3.X/<name>.py or a package there.
	if m, _ := filepath.Glob("/usr/lib/python3.*/" + parts[0] + ".py"); len(m) > 0 {
		return nil, false, true
	}
	if m, _ := filepath.Glob("/usr/lib/python3.*/" + parts[0] + "/__init__.py"); len(m) > 0 {
		return nil, false, true
	}
	if stdlibNames[parts[0]] {
		return nil, false, true
	}
	return nil, false, false
}

// stdlibNames are standard-library modules compiled into the interpreter (no file to find).
var stdlibNames = map[string]bool{"sys": true, "time": true, "os": true, "itertools": true, "math": true,
	"errno": true, "gc": true, "marshal": true, "posix": true, "_thread": true, "builtins": true}

// pyModule is one file's statements, for deciding what runs at import.
type pyModule struct {
	file  string
	stmts []pyStmt
	env   Env
}

// maxCallDepth bounds following a function to where it is called.
const maxCallDepth = 3

// runsAtImport says whether statement idx runs when the module is imported: the conditions of
// the blocks around it (an if's condition, an else's negated if), and, inside a function, the
// module-level calls of that function. It returns the guard's text and the variables it reads.
func (m *pyModule) runsAtImport(idx, callDepth int) (string, string, []string) {
	st := m.stmts[idx]
	indent := st.indent
	var guards []string
	var vars []string
	verdict := Yes
	for j := idx - 1; j >= 0 && indent > 0; j-- {
		h := m.stmts[j]
		if h.indent >= indent {
			continue
		}
		indent = h.indent
		if d := defLine.FindStringSubmatch(h.text); d != nil {
			// Inside a function: it runs at import if the function is called at import.
			if callDepth >= maxCallDepth {
				return Unknown, strings.Join(guards, " and "), vars
			}
			res := No
			var g string
			var vs []string
			for k, c := range m.stmts {
				if k == j || defLine.MatchString(c.text) || !regexp.MustCompile(`\b`+regexp.QuoteMeta(d[1])+`\s*\(`).MatchString(c.text) {
					continue
				}
				if r, cg, cv := m.runsAtImport(k, callDepth+1); r == Yes || (r == Unknown && res == No) {
					res, g, vs = r, cg, cv
					if r == Yes {
						break
					}
				}
			}
			if g != "" {
				guards = append(guards, g)
			}
			vars = append(vars, vs...)
			return and(verdict, res), strings.Join(guards, " and "), vars
		}
		hb := blockHeader.FindStringSubmatch(h.text)
		if hb == nil {
			continue
		}
		cond := strings.TrimSpace(hb[2])
		switch hb[1] {
		case "if", "elif":
			v, vs := m.eval(cond, j)
			guards = append(guards, cond)
			vars = append(vars, vs...)
			verdict = and(verdict, truth(v))
		case "else":
			// The if at the same indentation above.
			for k := j - 1; k >= 0; k-- {
				if m.stmts[k].indent < h.indent {
					break
				}
				if m.stmts[k].indent == h.indent {
					if ib := blockHeader.FindStringSubmatch(m.stmts[k].text); ib != nil && (ib[1] == "if" || ib[1] == "elif") {
						c := strings.TrimSpace(ib[2])
						v, vs := m.eval(c, k)
						guards = append(guards, "not ("+c+")")
						vars = append(vars, vs...)
						verdict = and(verdict, not(truth(v)))
						break
					}
				}
			}
		case "class":
			// A class body runs at import.
		case "while", "for", "with", "try", "except", "finally":
			if hb[1] == "except" {
				verdict = and(verdict, Unknown)
			}
		}
	}
	return verdict, strings.Join(reverse(guards), " and "), vars
}

func reverse(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[len(s)-1-i] = v
	}
	return out
}

func and(a, b string) string {
	switch {
	case a == No || b == No:
		return No
	case a == Unknown || b == Unknown:
		return Unknown
	}
	return Yes
}

func not(a string) string {
	switch a {
	case Yes:
		return No
	case No:
		return Yes
	}
	return Unknown
}

// truth is a value's truth as an if sees it.
func truth(v pyVal) string {
	switch v.kind {
	case kindUnknown:
		return Unknown
	case kindStr:
		return yesNo(v.s != "")
	case kindNum, kindBool:
		return yesNo(v.n != 0)
	case kindNone:
		return No
	case kindSeq:
		return yesNo(len(v.items) > 0)
	}
	return Unknown
}

func yesNo(b bool) string {
	if b {
		return Yes
	}
	return No
}

// eval evaluates a condition written at statement at, with the module-level names bound before
// it; it returns the value and the environment variables read.
func (m *pyModule) eval(expr string, at int) (pyVal, []string) {
	e := &pyEval{m: m, at: at, depth: 0}
	v := e.evalString(expr)
	return v, e.vars
}
