package htmlreport

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// uPlotDir is the vendored uPlot release (see its README.md for where it came from).
const uPlotDir = "assets/uplot-1.6.32"

//go:embed assets/page.html.tmpl assets/report.js assets/report.css
//go:embed assets/uplot-1.6.32/uPlot.iife.min.js assets/uplot-1.6.32/uPlot.min.css assets/uplot-1.6.32/LICENSE
var assets embed.FS

func asset(name string) string {
	b, err := assets.ReadFile(name)
	if err != nil {
		panic(err) // embedded at build time: cannot be missing
	}
	return string(b)
}

// uPlotBanner is the first line of the minified uPlot: a comment naming the project's home
// page. The page writes it without the scheme, so that it holds no URL at all (tests check
// that), and carries the licence in a comment instead.
const uPlotBanner = "/*! https://github.com/leeoniya/uPlot (v1.6.32) */"

var pageTemplate = template.Must(template.New("page").Funcs(template.FuncMap{
	"tone": func(t *Table, row, col int) string {
		if t.Tones == nil || col != t.ToneColumn || row >= len(t.Tones) || t.Tones[row] == "" {
			return ""
		}
		return "tone-" + string(t.Tones[row])
	},
}).Parse(asset("assets/page.html.tmpl")))

// Page is one self-contained HTML report.
type Page struct {
	// Title is the page's title and first heading; Subtitle one line under it.
	Title, Subtitle string
	// Header is what was run (scenario, id, start, broker, ...); Plan the scenario's options.
	Header []Field
	Plan   []Field
	// Summary is the verdict table (one row per cell), or a bench run's figures.
	Summary *Table
	// Text is the scenario's text report, shown folded (the table with every column, and the
	// evidence).
	Text string
	// Notes are said above the charts (a cell file that could not be read).
	Notes    []string
	Sections []Section
}

// Field is one line of a header table.
type Field struct{ Name, Value string }

// pageData is what the template sees: the page, each section's charts by their index in the
// inlined data, and the inlined assets.
type pageData struct {
	*Page
	Sections []sectionData
	Data     template.JS
	UPlotJS  template.JS
	UPlotCSS template.CSS
	License  template.HTML
	JS       template.JS
	CSS      template.CSS
}

type sectionData struct {
	Section
	Charts []chartRef
}

type chartRef struct {
	Index int
	Chart
}

// data is the JSON inlined in the page, read by report.js.
type data struct {
	Charts []Chart `json:"charts"`
}

// Render returns the page as HTML: every chart normalized (downsampled, counted), its data
// inlined as JSON, uPlot and the page's script and style inlined.
func (p *Page) Render() ([]byte, error) {
	d := pageData{Page: p,
		UPlotJS:  template.JS(strings.Replace(asset(uPlotDir+"/uPlot.iife.min.js"), uPlotBanner, "/*! uPlot v1.6.32, github.com/leeoniya/uPlot (MIT licence above) */", 1)),
		UPlotCSS: template.CSS(asset(uPlotDir + "/uPlot.min.css")),
		License:  template.HTML("<!--\nuPlot 1.6.32, inlined below.\n\n" + strings.ReplaceAll(asset(uPlotDir+"/LICENSE"), "--", "- -") + "-->"),
		JS:       template.JS(asset("assets/report.js")),
		CSS:      template.CSS(asset("assets/report.css")),
	}
	var all data
	for _, s := range p.Sections {
		sd := sectionData{Section: s}
		for _, c := range s.Charts {
			c.normalize()
			sd.Charts = append(sd.Charts, chartRef{Index: len(all.Charts), Chart: c})
			all.Charts = append(all.Charts, c)
		}
		d.Sections = append(d.Sections, sd)
	}
	if all.Charts == nil {
		all.Charts = []Chart{}
	}
	// json.Marshal escapes <, > and & (as \u003c ...), so the data cannot end its <script>.
	js, err := json.Marshal(all)
	if err != nil {
		return nil, fmt.Errorf("report data: %w", err)
	}
	d.Data = template.JS(js)
	var b bytes.Buffer
	if err := pageTemplate.Execute(&b, d); err != nil {
		return nil, err
	}
	// The table template's definition, after </html>, leaves blank lines.
	return append(bytes.TrimRight(b.Bytes(), "\n"), '\n'), nil
}

// Write renders the page to w.
func (p *Page) Write(w io.Writer) error {
	b, err := p.Render()
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// WriteFile renders the page and writes it to path, through a file beside it that is renamed:
// a failed render leaves nothing, and an existing report is replaced whole or not at all.
func (p *Page) WriteFile(path string) error {
	b, err := p.Render()
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".report-*.html")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
