package htmlreport

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"wsgilab/internal/results"
)

// The vendored uPlot is the npm release, unmodified (assets/uplot-1.6.32/README.md).
func TestVendoredUPlot(t *testing.T) {
	want := map[string]string{
		"uPlot.iife.min.js": "19c8d4c6ad88929a79f4ae49d6f7161566dfd0ba3d15cc495e974f787eb78f1f",
		"uPlot.min.css":     "df630c6a8d6f8eeaff264b50f73ce5b114f646ffd9a0bb74f049b0a00135fa04",
		"LICENSE":           "8f989229699b4fe2f1a0432d0e9edc338a8a911e250e2d1b01ecd770a5f5b1bd",
	}
	for name, sum := range want {
		b, err := os.ReadFile(filepath.Join(uPlotDir, name))
		if err != nil {
			t.Fatal(err)
		}
		got := sha256.Sum256(b)
		if hex.EncodeToString(got[:]) != sum {
			t.Errorf("%s: sha256 %x, want %s (the vendored file changed)", name, got, sum)
		}
	}
	if !strings.HasPrefix(asset(uPlotDir+"/uPlot.iife.min.js"), uPlotBanner) {
		t.Errorf("uPlot's first line is not %q: the page would keep its URL", uPlotBanner)
	}
}

// A page is self-contained: no URL at all, no src or href but an empty data: icon, text and
// data escaped (a title cannot close a tag, data cannot close its <script>), and the data
// read back is the charts, normalized.
func TestRenderSelfContained(t *testing.T) {
	evil := `</script><script>alert(1)</script> & "quotes"`
	p := &Page{Title: "t " + evil, Header: []Field{{"Broker", evil}},
		Summary: &Table{Columns: []string{"cell", "verdict"}, Rows: [][]string{{"a", "STABLE"}}, ToneColumn: 1, Tones: []Tone{Good}},
		Text:    "CELL  VERDICT\n" + evil,
		Sections: []Section{{Title: "S", Note: evil, Charts: []Chart{{
			Title: evil, X: Axis{Label: "s"}, Y: Axis{Label: "n"}, Xs: Values{0, 1, 2},
			Series: []Series{{Label: evil, Style: StyleLine, Values: Values{1, math.NaN(), 3}}},
			Marks:  []Mark{{X: 1, Label: "drop", Detail: evil, Tone: Bad}},
		}}}},
	}
	b, err := p.Render()
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"http://", "https://", "<script>alert", "@import", "url("} {
		if bytes.Contains(b, []byte(bad)) {
			t.Errorf("the page contains %q", bad)
		}
	}
	for _, m := range regexp.MustCompile(`(?i)\b(src|href)\s*=\s*"([^"]*)"`).FindAllSubmatch(b, -1) {
		if string(m[2]) != "data:," {
			t.Errorf("the page refers to %s=%q", m[1], m[2])
		}
	}
	if n := bytes.Count(b, []byte("<script")); n != 3 {
		t.Errorf("%d <script> elements, want 3 (data, uPlot, the page's)", n)
	}
	if !bytes.Contains(b, []byte(`class="tone-good"`)) {
		t.Error("the verdict's tone is not on its cell")
	}
	m := regexp.MustCompile(`(?s)<script type="application/json" id="wsgilab-data">(.*?)</script>`).FindSubmatch(b)
	if m == nil {
		t.Fatal("no inlined data")
	}
	var d struct {
		Charts []struct {
			Title  string `json:"title"`
			Points int    `json:"points"`
			Series []struct {
				Values []*float64 `json:"values"`
			} `json:"series"`
		} `json:"charts"`
	}
	if err := json.Unmarshal(m[1], &d); err != nil {
		t.Fatalf("inlined data: %v", err)
	}
	if len(d.Charts) != 1 || d.Charts[0].Title != evil || d.Charts[0].Points != 2 || d.Charts[0].Series[0].Values[1] != nil {
		t.Errorf("inlined data read back as %+v", d.Charts)
	}
}

// A long series is downsampled: a spikes-like run of 200 000 requests makes a page of a few
// hundred KB, not tens of MB.
func TestRenderLargeRunStaysLight(t *testing.T) {
	n := 200000
	xs := make(Values, n)
	client, app, cold := make(Values, n), make(Values, n), make(Values, n)
	for i := range n {
		xs[i] = float64(i) / 1000
		client[i] = 100 + float64(i%37)
		app[i] = 50 + float64(i%11)
		cold[i] = math.NaN()
		if i%20000 == 0 {
			cold[i] = 9000
		}
	}
	p := &Page{Title: "large", Sections: []Section{{Title: "requests", Charts: []Chart{{
		Title: "every request", Y: Axis{Scale: ScaleLog}, Xs: xs, Series: []Series{
			{Label: "client", Style: StylePoints, Values: client},
			{Label: "app", Style: StylePoints, Values: app},
			{Label: "cold", Style: StylePoints, Values: cold, Keep: true},
		}}}}}}
	b, err := p.Render()
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > 400<<10 {
		t.Errorf("page of %d KB for %d requests", len(b)>>10, n)
	}
	t.Logf("%d requests: %d KB", n, len(b)>>10)
	// Rendering leaves the page as it was: a second rendering is the same page.
	again, err := p.Render()
	if err != nil || !bytes.Equal(again, b) {
		t.Errorf("a second rendering differs (%d bytes, then %d; %v)", len(b), len(again), err)
	}
}

// WriteFile replaces the file whole and leaves nothing beside it.
func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, ReportFile)
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := (&Page{Title: "x"}).WriteFile(path); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if !bytes.HasPrefix(b, []byte("<!DOCTYPE html>")) {
		t.Errorf("report starts %q", b[:20])
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("%d files in the directory, want the report alone", len(entries))
	}
	if err := (&Page{}).WriteFile(filepath.Join(dir, "missing", "r.html")); err == nil {
		t.Error("writing into a missing directory succeeded")
	}
}

// The plan is shown whatever the scenario: scalars, lists, durations, objects, lists of objects.
func TestPlanFields(t *testing.T) {
	raw := json.RawMessage(`{"heartbeat_timeout_s": 3, "tail_ns": 2000000000, "paths": ["/cast", "/call"],
		"matrix": {"mpms": ["prefork"], "modes": []}, "app": "", "controls": false,
		"configs": [{"id": "a", "mpm": "prefork", "spare": {"name": "default", "max_spare": 0}}, {"mode": "daemon"}]}`)
	got, err := planFields(raw)
	if err != nil {
		t.Fatal(err)
	}
	want := []Field{
		{"configs[a]", "mpm=prefork, spare.max_spare=0, spare.name=default"},
		{"configs[1]", "mode=daemon"},
		{"controls", "false"},
		{"heartbeat_timeout_s", "3"},
		{"matrix.mpms", "prefork"},
		{"paths", "/cast, /call"},
		{"tail", "2s"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("field %d: %v, want %v", i, got[i], want[i])
		}
	}
}

// stubScenario is a scenario that draws no charts.
type stubScenario struct{}

func (stubScenario) Name() string { return "stub" }
func (stubScenario) WriteText(w io.Writer, run *results.Run) error {
	_, err := io.WriteString(w, "stub table\n")
	return err
}

// A run of a scenario without charts is a page of its header, verdicts and text, saying so;
// ERROR cells are marked, and notes get a column only when a cell has one.
func TestForRunWithoutCharts(t *testing.T) {
	run, err := results.Parse("run.json", []byte(`{"kind": "wsgilab.run/v1", "scenario": "stub", "id": "x1",
		"start": "2026-12-02T03:00:00Z", "elapsed_s": 1.5, "broker": {"private": true, "management_url": "http://127.0.0.1:1/", "amqp_port": 5672},
		"plan": {"n": 1}, "cells": [{"id": "a", "verdict": {"kind": "ERROR", "reason": "no app"}, "notes": ["it failed"]},
		{"id": "b", "verdict": {"kind": "MEASURED", "reason": "fine"}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	p, err := ForRun(run, "", stubScenario{})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Sections) != 0 || len(p.Notes) != 1 || p.Text != "stub table\n" {
		t.Errorf("sections %d, notes %v, text %q", len(p.Sections), p.Notes, p.Text)
	}
	if len(p.Summary.Columns) != 4 || p.Summary.Tones[0] != Warn || p.Summary.Tones[1] != Neutral {
		t.Errorf("verdict table %+v", p.Summary)
	}
	b, err := p.Render()
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte("http://")) {
		t.Error("the broker's management URL is in the page")
	}
}
