package htmlreport_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"image/png"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"wsgilab/internal/htmlreport"
	"wsgilab/internal/results"
	"wsgilab/internal/scenario"
	"wsgilab/internal/testsupport"
)

// chromiumPath is Debian's chromium, which scripts/install-stack.sh installs.
const chromiumPath = "/usr/bin/chromium"

// maxReportBytes is the bound for the default 12-cell heartbeat run's report.
const maxReportBytes = 2 << 20

// screenshotPath is the README's picture of a heartbeat report, rewritten by
// 'go test ./internal/htmlreport -run Chromium -update'.
var screenshotPath = filepath.Join("..", "..", "docs", "report-heartbeat.png")

var keepReports = flag.String("reports", "", "also write each report and its screenshot into this directory, to look at")

// recorded runs of the real stack, one per scenario, as 'wsgilab run ... --out' wrote them
// (testdata/runs/README.md says how each was made).
var recorded = []struct {
	name   string
	charts int // charts the report must have: a chart that silently goes missing fails
}{
	{"heartbeat-4cells", 4 + 1},   // connections per cell, probe latency
	{"heartbeat-12cells", 12 + 1}, // the default matrix: the size and render-time measurement
	{"spikes", 2 * 3},             // per cell: requests, processes per second, per burst
	{"throughput", 3},             // runs in order, req/s CI, latency CI
	{"failover", 9 + 1},           // requests per second per cell, times across cells
}

// The reports of real recorded runs, one per scenario and one of a bench result, opened in
// headless Chromium: the page logs no console error or exception, makes no request but for
// the file itself, draws every chart with all its inlined data points (read back from uPlot's
// own data through the DOM) and with series pixels on its canvas, and its screenshot is not
// blank. Chromium missing is a failure: the install script installs it.
func TestReportsInChromium(t *testing.T) {
	b := newBrowser(t)
	for _, rec := range recorded {
		t.Run(rec.name, func(t *testing.T) {
			dir := extractRun(t, rec.name)
			run, err := results.Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			sc, ok := scenario.Lookup(run.Scenario)
			if !ok {
				t.Fatalf("no scenario %q", run.Scenario)
			}
			p, err := htmlreport.ForRun(run, dir, sc)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, htmlreport.ReportFile)
			if err := p.WriteFile(path); err != nil {
				t.Fatal(err)
			}
			got := b.open(t, path, rec.name)
			got.check(t, rec.charts)
			if rec.name == "heartbeat-12cells" && got.size >= maxReportBytes {
				t.Errorf("the 12-cell heartbeat report is %d bytes, want < %d", got.size, maxReportBytes)
			}
			t.Logf("%s: report %.1f KB, %d charts, %d points drawn, rendered %.0f ms after navigation (%.0f ms wall, load to last chart)",
				rec.name, float64(got.size)/1024, len(got.charts), got.totalPoints(), got.renderedMs, got.wall.Seconds()*1000)
			if rec.name == "heartbeat-4cells" && testsupport.Updating() {
				b.screenshotREADME(t, path)
			}
		})
	}
	t.Run("bench", func(t *testing.T) {
		in, err := htmlreport.Load(filepath.Join("testdata", "runs", "bench.json"))
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "bench.html")
		if err := htmlreport.ForBench(in.Path, in.Bench).WriteFile(path); err != nil {
			t.Fatal(err)
		}
		got := b.open(t, path, "bench")
		got.check(t, 3)
		t.Logf("bench: report %.1f KB, %d charts, %d points drawn, rendered %.0f ms after navigation",
			float64(got.size)/1024, len(got.charts), got.totalPoints(), got.renderedMs)
	})
}

// browser is one headless Chromium for a test, with the flags this machine allows (no network
// but loopback: every background service off) and a profile of its own.
type browser struct {
	ctx context.Context
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	if _, err := exec.LookPath(chromiumPath); err != nil {
		t.Fatalf("%s: %v: install it with 'bash scripts/install-stack.sh' (the reports' tests open them in Chromium)", chromiumPath, err)
	}
	profile, err := os.MkdirTemp("", "wsgilab-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 1000),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	// Start the browser now, so that a browser that cannot start fails here, not in a subtest.
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		cancelAlloc()
		os.RemoveAll(profile)
		t.Fatalf("starting %s: %v", chromiumPath, err)
	}
	t.Cleanup(func() {
		// Cancel closes the browser and waits for it; then its profile can go.
		chromedp.Cancel(ctx)
		cancel()
		cancelAlloc()
		os.RemoveAll(profile)
	})
	return &browser{ctx: ctx}
}

// opened is what one report showed in the browser.
type opened struct {
	size       int64
	html       []byte
	requests   []string
	problems   []string // console errors and warnings, exceptions, error log entries
	charts     []shownChart
	want       []htmlreport.Chart // the inlined data
	renderedMs float64            // performance.now() when the last chart was drawn
	wall       time.Duration
	png        []byte
	url        string
}

type shownChart struct {
	Index  int    `json:"index"`
	Drawn  bool   `json:"drawn"`
	Points int    `json:"points"`
	Marks  int    `json:"marks"`
	Ink    int    `json:"ink"`
	Title  string `json:"title"`
	Canvas int    `json:"canvas"`
}

// open loads the report in a new tab and reads what it shows; name names it in -reports.
func (b *browser) open(t *testing.T, path, name string) *opened {
	t.Helper()
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	o := &opened{url: "file://" + abs}
	if o.html, err = os.ReadFile(abs); err != nil {
		t.Fatal(err)
	}
	o.size = int64(len(o.html))
	o.want = inlinedCharts(t, o.html)

	ctx, cancel := chromedp.NewContext(b.ctx)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 30*time.Second)
	defer cancelTimeout()
	var mu sync.Mutex
	err = chromedp.Listen(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *network.EventRequestWillBeSent:
			o.requests = append(o.requests, ev.Request.URL)
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeWarning || ev.Type == runtime.ConsoleAPICalledTypeAssert {
				var args []string
				for _, a := range ev.Args {
					args = append(args, string(a.Value)+a.Description)
				}
				o.problems = append(o.problems, fmt.Sprintf("console.%s: %s", ev.Type, strings.Join(args, " ")))
			}
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			desc := ""
			if d.Exception != nil {
				desc = d.Exception.Description
			}
			o.problems = append(o.problems, fmt.Sprintf("exception: %s %s (%s:%d)", d.Text, desc, d.URL, d.LineNumber))
		case *log.EventEntryAdded:
			if ev.Entry.Level == log.EntryLevelError || ev.Entry.Level == log.EntryLevelWarning {
				o.problems = append(o.problems, fmt.Sprintf("log %s (%s): %s %s", ev.Entry.Level, ev.Entry.Source, ev.Entry.Text, ev.Entry.URL))
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	enable := chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if _, err := cdp.Call(ctx, tg, network.Enable, network.EnableParams{}); err != nil {
			return err
		}
		if _, err := cdp.Call(ctx, tg, log.Enable, cdp.Empty{}); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, tg, runtime.Enable, cdp.Empty{})
		return err
	})
	if err := chromedp.Do(ctx, enable); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := chromedp.Do(ctx, chromedp.Navigate(o.url)); err != nil {
		t.Fatal(err)
	}
	rendered, err := chromedp.Run(ctx, chromedp.Poll[string](`document.documentElement.dataset.rendered`, chromedp.WithPollingTimeout(20*time.Second)))
	o.wall = time.Since(start)
	if err != nil {
		t.Fatalf("%s: the page did not finish drawing: %v (problems: %v)", path, err, o.problems)
	}
	shown, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify([...document.querySelectorAll("figure.chart")].map(f => ({
		index: +f.dataset.chart, drawn: f.dataset.drawn === "1", points: +(f.dataset.points ?? -1),
		marks: +(f.dataset.marks ?? -1), ink: window.wsgilabInk(+f.dataset.chart),
		title: f.querySelector("figcaption b").textContent, canvas: f.querySelectorAll("canvas").length})))`))
	if err != nil {
		t.Fatal(err)
	}
	if o.png, err = chromedp.Run(ctx, chromedp.FullScreenshot(100)); err != nil {
		t.Fatal(err)
	}
	if o.renderedMs, err = strconv.ParseFloat(rendered, 64); err != nil {
		t.Fatalf("data-rendered %q: %v", rendered, err)
	}
	if err := json.Unmarshal([]byte(shown), &o.charts); err != nil {
		t.Fatal(err)
	}
	// Events of the page are delivered asynchronously: give late ones a moment.
	time.Sleep(100 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if *keepReports != "" {
		os.WriteFile(filepath.Join(*keepReports, name+".html"), o.html, 0o644)
		os.WriteFile(filepath.Join(*keepReports, name+".png"), o.png, 0o644)
	}
	return o
}

// check asserts what every report must show.
func (o *opened) check(t *testing.T, wantCharts int) {
	t.Helper()
	for _, p := range o.problems {
		t.Errorf("the page logged: %s", p)
	}
	for _, u := range o.requests {
		if u != o.url {
			t.Errorf("the page requested %s (it must request nothing but itself)", u)
		}
	}
	if len(o.requests) == 0 {
		t.Errorf("no request seen at all: the network listener is not working")
	}
	if bytes.Contains(o.html, []byte("http://")) || bytes.Contains(o.html, []byte("https://")) {
		t.Errorf("the page holds a URL: %s", regexp.MustCompile(`https?://[^"' <]*`).Find(o.html))
	}
	if len(o.want) != wantCharts {
		t.Errorf("%d charts in the page's data, want %d", len(o.want), wantCharts)
	}
	if len(o.charts) != len(o.want) {
		t.Fatalf("%d charts in the page, %d in its data", len(o.charts), len(o.want))
	}
	for _, c := range o.charts {
		want := o.want[c.Index]
		switch {
		case !c.Drawn || c.Canvas != 1:
			t.Errorf("chart %d %q: not drawn (drawn %v, %d canvases)", c.Index, c.Title, c.Drawn, c.Canvas)
		case want.Points == 0:
			t.Errorf("chart %d %q: no data points in the page's data", c.Index, c.Title)
		case c.Points != want.Points:
			t.Errorf("chart %d %q: uPlot drew %d points, the page's data has %d", c.Index, c.Title, c.Points, want.Points)
		case c.Marks != len(want.Marks):
			t.Errorf("chart %d %q: %d marks placed, the data has %d", c.Index, c.Title, c.Marks, len(want.Marks))
		case c.Ink < 10:
			t.Errorf("chart %d %q: %d pixels of its series' colours on the canvas", c.Index, c.Title, c.Ink)
		}
	}
	colours, ink, w, h := pictureStats(t, o.png)
	if colours < 64 || ink < 0.02 {
		t.Errorf("the screenshot (%dx%d) looks blank: %d distinct colours, %.1f%% of pixels not white", w, h, colours, ink*100)
	}
}

func (o *opened) totalPoints() int {
	n := 0
	for _, c := range o.charts {
		n += c.Points
	}
	return n
}

// inlinedCharts reads the page's inlined data, independently of its script.
func inlinedCharts(t *testing.T, html []byte) []htmlreport.Chart {
	t.Helper()
	m := regexp.MustCompile(`(?s)<script type="application/json" id="wsgilab-data">(.*?)</script>`).FindSubmatch(html)
	if m == nil {
		t.Fatal("no inlined data in the page")
	}
	var d struct {
		Charts []htmlreport.Chart `json:"charts"`
	}
	if err := json.Unmarshal(m[1], &d); err != nil {
		t.Fatalf("the inlined data: %v", err)
	}
	return d.Charts
}

// pictureStats counts a PNG's distinct colours and the share of its pixels that are not
// (near) white.
func pictureStats(t *testing.T, b []byte) (colours int, ink float64, w, h int) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	bounds := img.Bounds()
	seen := map[uint32]bool{}
	dark := 0
	for y := bounds.Min.Y; y < bounds.Max.Y; y++ {
		for x := bounds.Min.X; x < bounds.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			seen[(r>>8)<<16|(g>>8)<<8|bl>>8] = true
			if r>>8 < 240 || g>>8 < 240 || bl>>8 < 240 {
				dark++
			}
		}
	}
	total := bounds.Dx() * bounds.Dy()
	return len(seen), float64(dark) / float64(max(total, 1)), bounds.Dx(), bounds.Dy()
}

// screenshotREADME writes the README's picture: the top of the heartbeat report (run, verdict
// table, the first cells' connection charts) as a 1280-pixel-wide browser shows it.
func (b *browser) screenshotREADME(t *testing.T, path string) {
	t.Helper()
	abs, _ := filepath.Abs(path)
	ctx, cancel := chromedp.NewContext(b.ctx)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 30*time.Second)
	defer cancelTimeout()
	err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 1560), chromedp.Navigate("file://"+abs))
	if err == nil {
		_, err = chromedp.Run(ctx, chromedp.Poll[string](`document.documentElement.dataset.rendered`, chromedp.WithPollingTimeout(20*time.Second)))
	}
	if err != nil {
		t.Fatal(err)
	}
	shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(screenshotPath, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s (%d KB)", screenshotPath, len(shot)/1024)
}

// extractRun unpacks testdata/runs/NAME.tar.gz (a run's output directory: run.json and its
// cell files) into a temporary directory.
func extractRun(t testing.TB, name string) string {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "runs", name+".tar.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return dir
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		out := filepath.Join(dir, filepath.Base(h.Name))
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(out, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
