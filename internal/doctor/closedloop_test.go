package doctor_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"

	"wsgilab/apps/fakeservice"
	"wsgilab/internal/doctor"
	"wsgilab/internal/runner"
	"wsgilab/internal/scenario/heartbeat"
	"wsgilab/internal/testsupport"
)

// The closed loop: doctor reads the configuration wsgilab generated for a cell of the heartbeat
// scenario and predicts its verdict; the cell's measured verdict says whether doctor is right.

var record = flag.String("record", "", "rewrite testdata/closedloop from this kept run's output directory "+
	"(wsgilab run heartbeat --server apache,uwsgi,gunicorn --keep --out DIR)")

// recordedCell is a cell of the recorded run as testdata/closedloop/cells.json keeps it.
type recordedCell struct {
	ID        string `json:"id"`
	Server    string `json:"server"`
	Workers   string `json:"workers"`
	Heartbeat string `json:"heartbeat"`
	Verdict   string `json:"verdict"`
	Reason    string `json:"reason"`
}

const closedLoopDir = "testdata/closedloop"

// stackToken stands for a cell's stack directory in the recorded files: the test puts them
// back in a directory of its own, with the fake service the tree embeds.
const stackToken = "@STACK@"

// configFiles are what a cell's stack directory holds that doctor reads (see doctor.CellInputs),
// and the gunicorn shim that names the app.
var configFiles = []string{"environment", "app/oslo.conf", "apache/httpd.conf", "uwsgi/uwsgi.ini",
	"gunicorn/gunicorn.conf.py", "gunicorn/wsgilab_app.py"}

// Every cell of a recorded real run (the 12 Apache cells of the default matrix and the 10 uWSGI
// and gunicorn cells): doctor, reading the cell's configuration only, predicts the verdict the
// cell measured, and it reads the app as monkey-patched from the cell's environment rather
// than assuming it.
func TestClosedLoopRecorded(t *testing.T) {
	if *record != "" {
		recordClosedLoop(t, *record)
	}
	b, err := os.ReadFile(filepath.Join(closedLoopDir, "cells.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cells []recordedCell
	if err := json.Unmarshal(b, &cells); err != nil {
		t.Fatal(err)
	}
	if len(cells) != 22 {
		t.Fatalf("%d recorded cells, want the 22 of heartbeat --server apache,uwsgi,gunicorn", len(cells))
	}
	root := t.TempDir()
	var rows []row
	for _, c := range cells {
		stack := filepath.Join(root, c.ID, "stack")
		for _, f := range configFiles {
			b, err := os.ReadFile(filepath.Join(closedLoopDir, c.ID, f))
			if err != nil {
				continue
			}
			dst := filepath.Join(stack, f)
			os.MkdirAll(filepath.Dir(dst), 0o755)
			if err := os.WriteFile(dst, []byte(strings.ReplaceAll(string(b), stackToken, stack)), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if _, _, err := fakeservice.Write(filepath.Join(stack, "app")); err != nil {
			t.Fatal(err)
		}
		rows = append(rows, diagnoseCell(t, c, stack))
	}
	t.Logf("closed loop over the recorded run:\n%s", agreementTable(rows))
	for _, r := range rows {
		if r.predicted != r.measured {
			t.Errorf("%s: doctor predicts %s, the cell measured %s (findings %s)", r.id, r.predicted, r.measured, r.rules)
		}
	}
}

// row is one line of the agreement table.
type row struct {
	id, server, workers, heartbeat string
	measured, predicted, rules     string
}

// diagnoseCell runs doctor on a cell's stack directory and checks what it read.
func diagnoseCell(t *testing.T, c recordedCell, stack string) row {
	t.Helper()
	d, err := doctor.Read(doctor.CellInputs(stack))
	if err != nil {
		t.Fatalf("%s: %v", c.ID, err)
	}
	r := doctor.Diagnose(d)
	if len(r.Services) != 1 {
		t.Fatalf("%s: %d services read from %s, want 1", c.ID, len(r.Services), stack)
	}
	s := r.Services[0]
	if s.App == nil || s.App.MonkeyPatch != doctor.Yes || s.App.OsloMessaging != doctor.Yes {
		t.Errorf("%s: app read as %+v, want monkey-patched (WSGILAB_MONKEY_PATCH=1 in the cell's environment) and using oslo.messaging", c.ID, s.App)
	}
	var rules []string
	for _, f := range r.Findings {
		rules = append(rules, f.Rule)
		if f.Predicts != "" && len(f.Assumes) > 0 {
			t.Errorf("%s: %s predicts %s on assumptions %q: the cell's configuration says it all", c.ID, f.Rule, f.Predicts, f.Assumes)
		}
	}
	return row{id: c.ID, server: c.Server, workers: c.Workers, heartbeat: c.Heartbeat, measured: c.Verdict,
		predicted: s.Predicted, rules: strings.Join(rules, ", ")}
}

func agreementTable(rows []row) string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CELL\tSERVER\tWORKERS\tHEARTBEAT\tMEASURED\tDOCTOR PREDICTS\tAGREE\tFINDINGS")
	agree := 0
	for _, r := range rows {
		ok := "yes"
		if r.predicted != r.measured {
			ok = "NO"
		} else {
			agree++
		}
		rules := r.rules
		if rules == "" {
			rules = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.id, r.server, r.workers, r.heartbeat, r.measured, r.predicted, ok, rules)
	}
	tw.Flush()
	fmt.Fprintf(&b, "\n%d of %d cells agree\n", agree, len(rows))
	return b.String()
}

var transportPassword = regexp.MustCompile(`(rabbit://[^:@/]+:)[^@]+@`)

// recordClosedLoop rewrites testdata/closedloop from a kept run: cells.json from run.json, and
// each cell's configuration files with its stack directory as stackToken and the vhost's
// password blanked.
func recordClosedLoop(t *testing.T, out string) {
	b, err := os.ReadFile(filepath.Join(out, "run.json"))
	if err != nil {
		t.Fatal(err)
	}
	var run struct {
		Cells []struct {
			ID      string `json:"id"`
			Dir     string `json:"dir"`
			Verdict struct {
				Kind   string `json:"kind"`
				Reason string `json:"reason"`
			} `json:"verdict"`
			Spec runner.CellSpec `json:"spec"`
		} `json:"cells"`
	}
	if err := json.Unmarshal(b, &run); err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(closedLoopDir)
	var cells []recordedCell
	for _, c := range run.Cells {
		stack := filepath.Join(c.Dir, "stack")
		for _, f := range configFiles {
			b, err := os.ReadFile(filepath.Join(stack, f))
			if err != nil {
				continue
			}
			text := transportPassword.ReplaceAllString(strings.ReplaceAll(string(b), stack, stackToken), "${1}REDACTED@")
			dst := filepath.Join(closedLoopDir, c.ID, f)
			os.MkdirAll(filepath.Dir(dst), 0o755)
			if err := os.WriteFile(dst, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		server, workers := c.Spec.Columns()
		cells = append(cells, recordedCell{ID: c.ID, Server: server, Workers: workers, Heartbeat: c.Spec.Heartbeat,
			Verdict: c.Verdict.Kind, Reason: c.Verdict.Reason})
	}
	b, _ = json.MarshalIndent(cells, "", "  ")
	if err := os.WriteFile(filepath.Join(closedLoopDir, "cells.json"), append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("recorded %d cells from %s", len(cells), out)
}

// A small real run of the heartbeat scenario, kept: one cell per server and heartbeat mode where
// the servers differ most (Apache event + daemon mode, uWSGI without Python threads, gunicorn's
// sync worker), and doctor on each cell's generated configuration predicts what it measured.
func TestClosedLoopRealRun(t *testing.T) {
	fs := pflag.NewFlagSet("heartbeat", pflag.ContinueOnError)
	build := heartbeat.Scenario{}.Flags(fs)
	if err := fs.Parse([]string{"--server", "apache,uwsgi,gunicorn", "--mpm", "event", "--mode", "daemon",
		"--uwsgi-threads", "off", "--gunicorn-worker", "sync", "--heartbeat", "green,pthread"}); err != nil {
		t.Fatal(err)
	}
	plan, err := build()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	work := testsupport.Dir(t)
	out, err := runner.Run(ctx, "heartbeat", plan, runner.Options{WorkDir: work, Keep: true})
	if err != nil {
		t.Fatal(err)
	}
	var rows []row
	for _, cr := range out.Cells {
		c := cr.Base()
		spec := cr.(*heartbeat.CellResult).Spec
		server, workers := spec.Columns()
		rows = append(rows, diagnoseCell(t, recordedCell{ID: c.ID, Server: server, Workers: workers, Heartbeat: spec.Heartbeat,
			Verdict: string(c.Verdict.Kind)}, filepath.Join(c.Dir, "stack")))
	}
	t.Logf("closed loop over a real run:\n%s", agreementTable(rows))
	if len(rows) != 6 {
		t.Fatalf("%d cells, want 6", len(rows))
	}
	for _, r := range rows {
		if r.predicted != r.measured {
			t.Errorf("%s: doctor predicts %s, the cell measured %s (findings %s)", r.id, r.predicted, r.measured, r.rules)
		}
	}
}
