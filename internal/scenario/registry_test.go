package scenario

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"wsgilab/internal/results"
	"wsgilab/internal/testsupport"
)

// Every registered scenario has a unique name, help, and options that parse to a plan with
// cells; Lookup finds each by name.
func TestRegistry(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range All() {
		name := s.Name()
		if name == "" || seen[name] || strings.ContainsAny(name, " /") {
			t.Errorf("scenario name %q: empty, duplicate or not a word", name)
		}
		seen[name] = true
		if got, ok := Lookup(name); !ok || got.Name() != name {
			t.Errorf("Lookup(%q) = %v, %v", name, got, ok)
		}
		if s.Summary() == "" || s.Usage() == "" {
			t.Errorf("%s: no summary or usage", name)
		}
		fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
		build := s.Flags(fs)
		if err := fs.Parse(nil); err != nil {
			t.Fatal(err)
		}
		plan, err := build()
		if err != nil {
			t.Fatalf("%s: the default options are refused: %v", name, err)
		}
		if len(plan.Cells()) == 0 {
			t.Errorf("%s: the default plan has no cells", name)
		}
	}
	if _, ok := Lookup("nosuch"); ok {
		t.Error("Lookup found a scenario that is not registered")
	}
	if Default().Name() != Names()[0] {
		t.Errorf("the default %q is not listed first in %v", Default().Name(), Names())
	}
}

// Every table wsgilab prints is golden-tested: each scenario's text report of a recorded run of
// its default matrix on the real stack (NAME/testdata/recorded/run.json, as 'wsgilab run NAME
// --out' wrote it), printed without starting anything. A change of column, wording or number
// format shows as a diff to review ('go test ./internal/scenario -update' rewrites the files).
// A scenario without a recorded run fails here.
func TestTextReportsGolden(t *testing.T) {
	for _, s := range All() {
		t.Run(s.Name(), func(t *testing.T) {
			run, err := results.Load(filepath.Join(s.Name(), "testdata", "recorded", "run.json"))
			if err != nil {
				t.Fatal(err)
			}
			if run.Scenario != s.Name() {
				t.Fatalf("the recorded run is a %s run", run.Scenario)
			}
			var b bytes.Buffer
			if err := s.WriteText(&b, run); err != nil {
				t.Fatal(err)
			}
			testsupport.Golden(t, filepath.Join("..", s.Name(), "testdata", "recorded", "table.golden"), b.Bytes())
		})
	}
}

// The runner and the command know no scenario by name: outside the scenarios' packages and this
// registry, no Go file (tests aside) compares a string with a scenario's name (==, !=, a case
// of a switch) or gives a constant or variable that name to compare through. Flag names and
// JSON fields that happen to be spelled like one (the heartbeat *dimension*, --heartbeat
// green,pthread) are neither.
func TestNoScenarioNamesOutsideTheirPackages(t *testing.T) {
	root := filepath.Join("..", "..")
	names := map[string]bool{}
	for _, n := range Names() {
		names[strconv.Quote(n)] = true
	}
	isName := func(e ast.Expr) bool {
		lit, ok := e.(*ast.BasicLit)
		return ok && lit.Kind == token.STRING && names[lit.Value]
	}
	files := 0
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			if rel == filepath.Join("internal", "scenario") || d.Name() == "testdata" || (strings.HasPrefix(d.Name(), ".") && rel != ".") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		files++
		report := func(n ast.Node, what string) {
			t.Errorf("%s: %s a scenario's name", fset.Position(n.Pos()), what)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.BinaryExpr:
				if (n.Op == token.EQL || n.Op == token.NEQ) && (isName(n.X) || isName(n.Y)) {
					report(n, "compares with")
				}
			case *ast.CaseClause:
				for _, e := range n.List {
					if isName(e) {
						report(e, "switches on")
					}
				}
			case *ast.ValueSpec:
				for _, v := range n.Values {
					if isName(v) {
						report(v, "names a constant or variable after")
					}
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 20 {
		t.Fatalf("read only %d Go files below %s: the walk is wrong", files, root)
	}
}
