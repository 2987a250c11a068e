package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// reportFixtures makes a temporary directory with: a throughput run (the scenario's recorded
// run.json: its cells carry everything, so no cell files are needed), a bench result, a run of
// a scenario this wsgilab does not have, and a JSON file that is neither.
func reportFixtures(t *testing.T) (dir, runDir, benchFile string) {
	t.Helper()
	dir = t.TempDir()
	copyFile := func(from, to string) {
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(to, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	runDir = filepath.Join(dir, "run")
	copyFile(filepath.Join("..", "..", "internal", "scenario", "throughput", "testdata", "recorded", "run.json"), filepath.Join(runDir, "run.json"))
	benchFile = filepath.Join(dir, "bench.json")
	copyFile(filepath.Join("..", "..", "internal", "htmlreport", "testdata", "runs", "bench.json"), benchFile)
	os.MkdirAll(filepath.Join(dir, "unknown"), 0o755)
	os.WriteFile(filepath.Join(dir, "unknown", "run.json"), []byte(`{"kind": "wsgilab.run/v1", "scenario": "nosuch",
		"id": "x", "start": "2026-12-02T03:00:00Z", "plan": {}, "cells": [{"id": "a"}]}`), 0o644)
	os.WriteFile(filepath.Join(dir, "other.json"), []byte(`{"hello": "world"}`), 0o644)
	os.MkdirAll(filepath.Join(dir, "empty"), 0o755)
	return dir, runDir, benchFile
}

func TestReportExitCodes(t *testing.T) {
	dir, runDir, benchFile := reportFixtures(t)
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stderr string // substring of the one error line
		wrote  string // the file a success writes
	}{
		{"run dir", []string{runDir}, 0, "", filepath.Join(runDir, "report.html")},
		{"run.json, -o", []string{filepath.Join(runDir, "run.json"), "-o", filepath.Join(dir, "r.html")}, 0, "", filepath.Join(dir, "r.html")},
		{"bench", []string{benchFile}, 0, "", filepath.Join(dir, "bench.html")},
		{"help", []string{"--help"}, 0, "", ""},

		{"nothing", nil, 2, "no run directory or result file given", ""},
		{"two runs", []string{runDir, runDir}, 2, "one run or result at a time", ""},
		{"unknown flag", []string{"--pdf", runDir}, 2, "unknown flag: --pdf", ""},

		{"missing dir", []string{filepath.Join(dir, "nosuch")}, 1, "no such file", ""},
		{"dir without a run", []string{filepath.Join(dir, "empty")}, 1, "not a run's output directory", ""},
		{"not a run", []string{filepath.Join(dir, "other.json")}, 1, "not a wsgilab run", ""},
		{"unknown scenario", []string{filepath.Join(dir, "unknown")}, 1, `does not know: "nosuch"`, ""},
		{"-o in a missing directory", []string{runDir, "-o", filepath.Join(dir, "nosuch", "r.html")}, 1, "no directory", ""},
		{"-o a directory", []string{runDir, "-o", dir}, 1, "is a directory", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := listFiles(t, dir)
			var stdout, stderr bytes.Buffer
			code := run(append([]string{"report"}, tc.args...), &stdout, &stderr)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr: %s", code, tc.code, stderr.String())
			}
			switch {
			case tc.wrote != "":
				b, err := os.ReadFile(tc.wrote)
				if err != nil || !bytes.HasPrefix(b, []byte("<!DOCTYPE html>")) || stderr.Len() != 0 {
					t.Errorf("%s: %v (stderr %q)", tc.wrote, err, stderr.String())
				}
				if stdout.String() != "Report: "+tc.wrote+"\n" {
					t.Errorf("stdout %q", stdout.String())
				}
				os.Remove(tc.wrote)
			case tc.code == 0:
				if !strings.Contains(stdout.String(), "Usage:") {
					t.Errorf("help: %q", stdout.String())
				}
			default:
				if stdout.Len() != 0 {
					t.Errorf("wrote to stdout on error: %q", stdout.String())
				}
				msg := stderr.String()
				if strings.Count(msg, "\n") != 1 || !strings.HasPrefix(msg, "wsgilab report: ") || !strings.Contains(msg, tc.stderr) {
					t.Errorf("stderr = %q, want one 'wsgilab report:' line containing %q", msg, tc.stderr)
				}
			}
			if after := listFiles(t, dir); after != before {
				t.Errorf("files changed:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

// "-o -" writes the page to standard output and nothing else.
func TestReportToStdout(t *testing.T) {
	_, runDir, _ := reportFixtures(t)
	var stdout, stderr bytes.Buffer
	if code := run([]string{"report", runDir, "-o", "-"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if !bytes.HasPrefix(stdout.Bytes(), []byte("<!DOCTYPE html>")) || !bytes.HasSuffix(stdout.Bytes(), []byte("</html>\n")) {
		t.Errorf("stdout is not the page: %.60q ... %.20q", stdout.String(), stdout.String()[max(0, stdout.Len()-20):])
	}
	if _, err := os.Stat(filepath.Join(runDir, "report.html")); err == nil {
		t.Error("report.html written too")
	}
}

// run --html needs the output directory that report.html goes in: refused before anything
// starts, like the other bad options.
func TestRunHTMLNeedsOut(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run([]string{"run", "throughput", "--html", "--no-out"}, &stdout, &stderr)
	if code != 2 || stdout.Len() != 0 || !strings.Contains(stderr.String(), "--html") || strings.Count(stderr.String(), "\n") != 1 {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout.String(), stderr.String())
	}
}

// listFiles lists every file below dir with its size: what a refused command must not change.
func listFiles(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			info, _ := d.Info()
			b.WriteString(strings.TrimPrefix(path, dir) + ":" + strconv.FormatInt(info.Size(), 10) + " ")
		}
		return nil
	})
	return b.String()
}
