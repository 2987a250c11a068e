package report

import (
	"testing"

	"wsgilab/internal/runner"
)

// An all-Apache table keeps the write-ups' MPM and MODE columns; among other servers an Apache
// cell names its server ("apache event") where the others name theirs.
func TestServerColumns(t *testing.T) {
	apache := runner.CellSpec{MPM: "event", Mode: "embedded"}
	gunicorn := runner.CellSpec{Server: "gunicorn", Worker: "sync"}
	for _, tc := range []struct {
		specs                []runner.CellSpec
		spec                 runner.CellSpec
		header, srv, workers string
	}{
		{[]runner.CellSpec{apache}, apache, "MPM\tMODE", "event", "embedded"},
		{[]runner.CellSpec{apache, gunicorn}, apache, "SERVER\tWORKERS", "apache event", "embedded"},
		{[]runner.CellSpec{apache, gunicorn}, gunicorn, "SERVER\tWORKERS", "gunicorn", "sync"},
	} {
		srv, workers := ServerColumns(tc.specs, tc.spec)
		if h := ServerHeader(tc.specs); h != tc.header || srv != tc.srv || workers != tc.workers {
			t.Errorf("%v in %v: %q, %q, %q; want %q, %q, %q", tc.spec, tc.specs, h, srv, workers, tc.header, tc.srv, tc.workers)
		}
	}
}
