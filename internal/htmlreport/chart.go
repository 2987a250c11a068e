package htmlreport

import (
	"io"
	"math"
	"slices"
	"strconv"

	"wsgilab/internal/results"
)

// Charter is implemented by a scenario that draws charts (in its package's charts.go).
// Charts reads the run (and, for the bulk it keeps there, the cell files in dir: dir is ""
// when there are none) and returns the sections of the report below the verdict table. A
// cell whose file is missing is drawn from run.json alone, or noted: a report of a run.json
// without its cell files is still a report.
type Charter interface {
	Charts(run *results.Run, dir string) ([]Section, error)
}

// Scenario is what a report needs of any scenario: its name and its text report (shown
// folded under the verdict table). runner.Scenario has both.
type Scenario interface {
	Name() string
	WriteText(w io.Writer, run *results.Run) error
}

// VerdictToner is implemented by a scenario whose verdicts have a good and a bad side, so
// that the verdict table colours them (STABLE green, DROPPED red). ERROR and MEASURED are
// coloured without it.
type VerdictToner interface {
	VerdictTone(kind string) Tone
}

// Tone is how a verdict or a mark reads.
type Tone string

const (
	Good    Tone = "good"
	Bad     Tone = "bad"
	Warn    Tone = "warn"
	Neutral Tone = "neutral"
	// Info is for what is neither good nor bad but stands out (a burst of traffic).
	Info Tone = "info"
)

// Section is a heading, a sentence saying what question its charts answer, an optional small
// table (counts that are no chart's), and the charts.
type Section struct {
	Title  string
	Note   string
	Table  *Table
	Charts []Chart
}

// Table is a small table of text.
type Table struct {
	Columns []string
	Rows    [][]string
	// Tones, when set, colours one column's cells (e.g. a verdict): Tones[i] is row i's.
	ToneColumn int
	Tones      []Tone
}

// Chart is one uPlot chart: every series shares the x values (uPlot's aligned data); a value
// that a series does not have at an x is NaN (a gap).
//
// JSON (in the page's data): {"title", "note", "x": Axis, "y": Axis, "y2": Axis,
// "categories": [...], "xs": [...], "series": [Series, ...], "bands": [Band, ...],
// "marks": [Mark, ...], "points": N, "downsampled_from": N}
type Chart struct {
	Title string `json:"title"`
	Note  string `json:"note,omitempty"`
	X     Axis   `json:"x"`
	Y     Axis   `json:"y"`
	// Y2 is a second y axis (on the right) for the series with Axis "y2".
	Y2 *Axis `json:"y2,omitempty"`
	// Categories name x = 0, 1, ... of a chart whose x is not a quantity (cells, bursts).
	Categories []string `json:"categories,omitempty"`
	Xs         Values   `json:"xs"`
	Series     []Series `json:"series"`
	Bands      []Band   `json:"bands,omitempty"`
	Marks      []Mark   `json:"marks,omitempty"`
	// Points is how many data points the series hold (non-gap values), as inlined: the page's
	// script reports how many uPlot drew (data-points), and the tests compare the two.
	Points int `json:"points"`
	// DownsampledFrom is the number of x values before downsampling, when it happened.
	DownsampledFrom int `json:"downsampled_from,omitempty"`
	// MaxPoints bounds each series' points after downsampling (0: DefaultMaxPoints).
	MaxPoints int `json:"-"`
	// Wide makes the chart as wide as the page (a chart of many cells), not one column.
	Wide bool `json:"-"`
}

// Axis describes one axis.
type Axis struct {
	Label string `json:"label"`
	// Scale: "" linear; ScaleLog (base 10: values <= 0 become gaps); ScaleQuantile (x only:
	// the values are 1/(1-q) on a log scale, labelled as percentiles, as HdrHistogram's plots).
	Scale string `json:"scale,omitempty"`
	// Min, when set, is the lowest value shown (e.g. 0 for counts, so that a flat line at 5
	// does not fill the chart).
	Min *float64 `json:"min,omitempty"`
	// Integer: the values are counts, ticked at whole numbers.
	Integer bool `json:"integer,omitempty"`
}

// Axis scales.
const (
	ScaleLog      = "log"
	ScaleQuantile = "quantile"
)

// Zero is a Min of 0.
func Zero() *float64 { z := 0.0; return &z }

// Series is one series of a chart.
type Series struct {
	Label string `json:"label"`
	// Style: StyleLine, StyleStep (a count that holds until the next sample), StylePoints.
	Style string `json:"style"`
	// Color is a CSS colour; "" takes the next colour of the page's palette.
	Color string `json:"color,omitempty"`
	// Axis is "" (the y axis) or "y2".
	Axis  string  `json:"axis,omitempty"`
	Width float64 `json:"width,omitempty"`
	Dash  bool    `json:"dash,omitempty"`
	// Hollow draws points as rings (a marker around another series' points).
	Hollow bool `json:"hollow,omitempty"`
	// Connect draws a line across the gaps (a threshold given at its two ends).
	Connect bool   `json:"connect,omitempty"`
	Values  Values `json:"values"`
	// Low and High, when set, are an interval around each value (a 95% confidence interval),
	// drawn as a whisker.
	Low  Values `json:"low,omitempty"`
	High Values `json:"high,omitempty"`
	// Keep keeps every point of the series through downsampling: sparse markers (a cold
	// start) that LTTB could drop from a dense x.
	Keep bool `json:"-"`
}

// Series styles.
const (
	StyleLine   = "line"
	StyleStep   = "step"
	StylePoints = "points"
)

// Band is a shaded x range: a phase, a burst, a fault window.
type Band struct {
	From  float64 `json:"from"`
	To    float64 `json:"to"`
	Label string  `json:"label"`
	Tone  Tone    `json:"tone,omitempty"`
}

// Mark is a vertical line at an instant (a drop, a reconnect), listed under the chart with its
// Detail (e.g. the log line's gist).
type Mark struct {
	X      float64 `json:"x"`
	Label  string  `json:"label"`
	Detail string  `json:"detail,omitempty"`
	Tone   Tone    `json:"tone,omitempty"`
}

// NaN is a gap in Values.
var NaN = math.NaN()

// Values are numbers in the page's JSON: 6 significant digits (more than a chart shows, and a
// third of float64's length), NaN and infinities as null (uPlot's gap).
type Values []float64

func (v Values) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 2+len(v)*8)
	b = append(b, '[')
	for i, x := range v {
		if i > 0 {
			b = append(b, ',')
		}
		if math.IsNaN(x) || math.IsInf(x, 0) {
			b = append(b, "null"...)
			continue
		}
		b = strconv.AppendFloat(b, x, 'g', 6, 64)
	}
	return append(b, ']'), nil
}

// points counts the values a chart's series hold.
func (c *Chart) points() int {
	n := 0
	for _, s := range c.Series {
		for _, v := range s.Values {
			if !math.IsNaN(v) && !math.IsInf(v, 0) {
				n++
			}
		}
	}
	return n
}

// normalize makes a chart what the page draws: values a log axis cannot show become gaps (so
// that Points counts what is drawn), long series are downsampled, and Points is set.
func (c *Chart) normalize() {
	c.Series = slices.Clone(c.Series) // the caller's chart is left as it was: a page renders twice alike
	for i := range c.Series {
		s := &c.Series[i]
		s.Values = slices.Clone(s.Values)
		ax := c.Y
		if s.Axis == "y2" && c.Y2 != nil {
			ax = *c.Y2
		}
		if ax.Scale == ScaleLog {
			for j, v := range s.Values {
				if v <= 0 {
					s.Values[j] = NaN
				}
			}
		}
		if len(s.Values) < len(c.Xs) {
			for len(s.Values) < len(c.Xs) {
				s.Values = append(s.Values, NaN)
			}
		}
	}
	c.downsample()
	c.Points = c.points()
}
