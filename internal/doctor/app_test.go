package doctor

import (
	"path/filepath"
	"strings"
	"testing"
)

// Whether importing an app calls eventlet.monkey_patch(), from its text and the environment the
// configuration gives it: the forms guards take in real apps (nova's environment switch, the
// fake service's, __main__ blocks, else branches, a function called at import), and what cannot
// be told.
func TestAppMonkeyPatch(t *testing.T) {
	const nova = `import os


def _monkey_patch():
    import eventlet
    eventlet.monkey_patch()


def is_patching_disabled():
    return os.environ.get('OS_NOVA_DISABLE_EVENTLET_PATCHING', '').lower() in ('1', 'true', 'yes')


if (os.environ.get('OS_NOVA_DISABLE_EVENTLET_PATCHING', '').lower()
        not in ('1', 'true', 'yes')):
    _monkey_patch()
`
	const fake = `import os
MONKEY_PATCH = os.environ.get("WSGILAB_MONKEY_PATCH", "0") == "1"
if MONKEY_PATCH:
    # As nova does.
    import eventlet

    eventlet.monkey_patch()
`
	for _, tt := range []struct {
		name, src string
		env       map[string]string
		want      string
		line      int
	}{
		{"nova, variable unset", nova, nil, Yes, 6},
		{"nova, patching disabled", nova, map[string]string{"OS_NOVA_DISABLE_EVENTLET_PATCHING": "True"}, No, 6},
		{"fake service, patched", fake, map[string]string{"WSGILAB_MONKEY_PATCH": "1"}, Yes, 7},
		{"fake service, variable unset", fake, nil, No, 7},
		{"__main__ only", "import eventlet\nif __name__ == '__main__':\n    eventlet.monkey_patch()\n", nil, No, 3},
		{"else branch", "import os\nfrom eventlet import monkey_patch\nif os.getenv('NO_PATCH'):\n    pass\nelse:\n    monkey_patch(thread=True)\n", nil, Yes, 6},
		{"undecidable guard", "import settings, eventlet\nif settings.PATCH:\n    eventlet.monkey_patch()\n", nil, Unknown, 3},
		{"defined, never called", "def patch():\n    import eventlet\n    eventlet.monkey_patch()\n", nil, No, 3},
		{"docstring mention", "\"\"\"Call eventlet.monkey_patch() first.\n\nNot here.\n\"\"\"\nimport json\n", nil, No, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "app.wsgi")
			write(t, path, tt.src)
			d := &Deployment{Env: Env{}}
			for k, v := range tt.env {
				d.Env.set(k, v, Line{})
			}
			a, err := d.ReadApp(path)
			if err != nil {
				t.Fatal(err)
			}
			if a.MonkeyPatch != tt.want {
				t.Errorf("monkey_patch %s (guard %q, vars %v), want %s", a.MonkeyPatch, a.Guard, a.GuardVars, tt.want)
			}
			got := 0
			if a.MonkeyPatchLine != nil {
				got = a.MonkeyPatchLine.Line
			}
			if got != tt.line {
				t.Errorf("call at line %d, want %d", got, tt.line)
			}
		})
	}
}

// Imports are followed into the app's own package when it is on the path (next to the script):
// the call in the package's __init__ is found; a package that is not installed is named.
func TestAppImports(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "myapp", "__init__.py"), "from myapp import patching\n")
	write(t, filepath.Join(dir, "myapp", "patching.py"), "import eventlet\neventlet.monkey_patch()\n")
	write(t, filepath.Join(dir, "myapp", "wsgi.py"), "import oslo_messaging\napplication = None\n")
	app := filepath.Join(dir, "app.wsgi")
	write(t, app, "from myapp.wsgi import application\nimport nosuchpackage_here\n")
	d := &Deployment{Env: Env{}}
	a, err := d.ReadApp(app)
	if err != nil {
		t.Fatal(err)
	}
	if a.MonkeyPatch != Yes || a.MonkeyPatchLine == nil || !strings.HasSuffix(a.MonkeyPatchLine.File, "myapp/patching.py") {
		t.Errorf("monkey_patch %s at %+v", a.MonkeyPatch, a.MonkeyPatchLine)
	}
	if a.OsloMessaging != Yes || len(a.Unread) != 1 || a.Unread[0] != "nosuchpackage_here" {
		t.Errorf("oslo %s, unread %v", a.OsloMessaging, a.Unread)
	}
}

// The guard evaluator on the expressions it is meant for, and unknown beyond them.
func TestGuardEval(t *testing.T) {
	m := &pyModule{env: Env{"A": {Value: "Yes"}, "N": {Value: "3"}}, stmts: []pyStmt{
		{line: 1, text: `FLAG = os.environ.get("A", "").lower() in ("1", "yes")`},
		{line: 2, text: `x = 1`},
	}}
	for expr, want := range map[string]string{
		`FLAG`:                             Yes,
		`not FLAG`:                         No,
		`os.environ["A"] == "Yes"`:         Yes,
		`int(os.getenv("N", "0")) > 2`:     Yes,
		`int(os.getenv("M", "0")) > 2`:     No,
		`os.environ.get("M") is None`:      Yes,
		`os.environ.get("M") or FLAG`:      Yes,
		`os.environ.get("M") and FLAG`:     No,
		`some_call()`:                      Unknown,
		`os.environ.get("A") == other`:     Unknown,
		`"es" in os.environ.get("A", "")`:  Yes,
		`os.environ.get("A", "").strip()`:  Yes,
		`os.environ.get("A").upper() == 1`: No,
	} {
		v, _ := m.eval(expr, 2)
		if got := truth(v); got != want {
			t.Errorf("%s: %s, want %s", expr, got, want)
		}
	}
}
