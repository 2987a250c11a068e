package testsupport

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"wsgilab/internal/proc"
)

// update is the -update flag of every package whose tests compare output with golden files.
var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// Golden compares got with testdata/name, or rewrites that file when the tests run with -update
// (go test ./PACKAGE -update). A change of column, wording or number format then shows as a diff
// to review.
func Golden(t testing.TB, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run 'go test -update' in the package to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the output ('go test -update' rewrites it)\n--- got:\n%s\n--- want:\n%s", path, got, want)
	}
}

// ReadJSON decodes the JSON file at path into v, failing the test when it cannot.
func ReadJSON(t testing.TB, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// Progress is a writer that sends a run's progress lines to the test log.
func Progress(t testing.TB) *progressLog { return &progressLog{t} }

type progressLog struct{ t testing.TB }

func (l *progressLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// AssertNothingLeft fails the test when a process started by wsgilab is still registered
// (other than the shared broker's, which Main stops), or when anything is left in work (the
// directory a run made its run directory in).
func AssertNothingLeft(t testing.TB, work string) {
	t.Helper()
	for _, p := range proc.Running() {
		if shared != nil && strings.HasSuffix(p.Name, " "+shared.Node) {
			continue
		}
		t.Errorf("still running: %s pid %d members %v", p.Name, p.PID, p.Members())
	}
	entries, _ := os.ReadDir(work)
	for _, e := range entries {
		t.Errorf("left in the work dir: %s", e.Name())
	}
}

// Updating says whether the tests run with -update (golden files are being rewritten).
func Updating() bool { return *update }
