package compare

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"

	"wsgilab/internal/stats"
)

// noCINote explains a "± ∞": one value has no spread, hence no interval.
var noCINote = fmt.Sprintf("need >= %d samples for a confidence interval", stats.MinCISamples)

// WriteText prints the comparison: for two runs of a scenario that compares them itself, each
// cell's verdicts (A, B, changed) and its figures (A, B, delta); then the benchstat-like table of the
// samples, one row per (cell, metric) with each side's mean ± 95% CI, the delta of the means
// when significant ("~" when not), the ratio B/A with its CI, the p-value, the sample sizes and
// the test. Notes are numbered footnotes, as in benchstat.
func (c *Comparison) WriteText(w io.Writer) error {
	var b strings.Builder
	pairwise := false
	for _, r := range c.Rows {
		pairwise = pairwise || r.CellB != ""
	}
	if pairwise {
		fmt.Fprintf(&b, "run: %s\n", strings.Join(c.A.Files, " "))
	} else {
		fmt.Fprintf(&b, "A: %s\n", strings.Join(c.A.Files, " "))
		fmt.Fprintf(&b, "B: %s\n", strings.Join(c.B.Files, " "))
	}
	for i, l := range c.Basis {
		if i == 0 {
			fmt.Fprintf(&b, "compared: %s\n", l)
		} else {
			fmt.Fprintf(&b, "          %s\n", l)
		}
	}
	if len(c.Cells) > 0 {
		b.WriteString("\n")
		if err := writeCellChanges(&b, c.Cells); err != nil {
			return err
		}
	}
	if len(c.Rows) > 0 {
		if len(c.Cells) > 0 {
			b.WriteString("\n")
		}
		if err := c.writeRows(&b); err != nil {
			return err
		}
	}
	if len(c.Notes) > 0 {
		b.WriteString("\n")
		for _, n := range c.Notes {
			fmt.Fprintf(&b, "note: %s\n", n)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeCellChanges prints each cell's verdicts on both sides and whether they differ, then its
// figures: A, B and B - A.
func writeCellChanges(b *strings.Builder, cells []CellChange) error {
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "cell\tverdict A\tverdict B\tchanged")
	for _, c := range cells {
		changed := "no"
		if c.Changed {
			changed = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.Cell, c.VerdictA, c.VerdictB, changed)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	figures := false
	for _, c := range cells {
		figures = figures || len(c.Figures) > 0
	}
	if !figures {
		return nil
	}
	b.WriteString("\n")
	tw = tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "cell\tfigure\tA\tB\tdelta")
	for _, c := range cells {
		for _, f := range c.Figures {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.Cell, metricLabel(f.Name, f.Unit), figureText(f.A, false),
				figureText(f.B, false), figureText(f.Delta, true))
		}
	}
	return tw.Flush()
}

// figureText prints a figure to about four significant digits (10320, 8.944, 0.061), with its
// sign for a delta, "-" when the side has none.
func figureText(x *float64, signed bool) string {
	if x == nil {
		return "-"
	}
	format := "%.4g"
	if math.Abs(*x) >= 1000 {
		format = "%.0f" // no exponent
	}
	if signed {
		format = "%+" + format[1:]
	}
	return fmt.Sprintf(format, *x)
}

// writeRows prints the test line and the benchstat-like table of the rows, with numbered
// footnotes.
func (c *Comparison) writeRows(b *strings.Builder) error {
	pairwise, cells := false, false
	for _, r := range c.Rows {
		cells = cells || r.Cell != ""
		pairwise = pairwise || r.CellB != ""
	}
	fmt.Fprintf(b, "test: %s, two-sided, alpha %g; ± is the %g%% confidence interval of the mean; B/A is the ratio\n",
		c.Test, c.Alpha, c.Confidence*100)
	fmt.Fprintf(b, "      of the means with its %g%% confidence interval (Fieller)\n\n", c.Confidence*100)

	var notes footnotes
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	var head []string
	switch {
	case pairwise:
		head = []string{"cell A", "cell B", "metric", "A", "B"}
	case cells:
		head = []string{"cell", "metric", c.A.Label, c.B.Label}
	default:
		head = []string{"metric", c.A.Label, c.B.Label}
	}
	head = append(head, "delta", "B/A [95% CI]", "p", "n", "test")
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	for _, r := range c.Rows {
		var cols []string
		switch {
		case pairwise:
			cols = []string{r.Cell, r.CellB}
		case cells:
			cols = []string{r.Cell}
		}
		dec := decimals(math.Max(math.Abs(r.A.Mean), math.Abs(r.B.Mean)))
		cmp := r.Comparison
		delta := "~"
		if cmp.Significant {
			delta = "?"
			if cmp.DeltaPct != nil {
				delta = fmt.Sprintf("%+.1f%%", *cmp.DeltaPct)
			}
		}
		cols = append(cols, metricLabel(r.Metric, r.Unit),
			meanCI(r.A, dec, &notes), meanCI(r.B, dec, &notes),
			delta+notes.marks(cmp.Notes...), ratioText(cmp.Ratio, &notes),
			fmt.Sprintf("%.3f", cmp.P), fmt.Sprintf("%d+%d", cmp.NA, cmp.NB), string(cmp.Test))
		fmt.Fprintln(tw, strings.Join(cols, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for i, n := range notes {
		fmt.Fprintf(b, "%s %s\n", superscript(i+1), n)
	}
	return nil
}

// WriteJSON prints the comparison as indented JSON (the shape of Comparison).
func (c *Comparison) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(c)
}

// ratioText is "0.88 [0.84, 0.92]": B's mean over A's with the ratio's 95% confidence interval
// (Fieller's); "-" without a ratio (A's mean is 0), "0.88 [?]" and a footnote without an
// interval.
func ratioText(r *stats.Ratio, notes *footnotes) string {
	if r == nil {
		return "-"
	}
	if r.Note != "" {
		return r.String() + notes.marks(r.Note)
	}
	return r.String()
}

func metricLabel(metric, unit string) string {
	if unit == "" || unit == metric {
		return metric
	}
	return metric + " (" + unit + ")"
}

func meanCI(s stats.Summary, dec int, notes *footnotes) string {
	m := strconv.FormatFloat(s.Mean, 'f', dec, 64)
	if s.CI == nil {
		return m + " ± ∞" + notes.marks(noCINote)
	}
	return m + " ± " + strconv.FormatFloat(s.CI.HalfWidth, 'f', dec, 64)
}

// decimals gives about four significant digits for the larger mean of a row, so that 563.2
// req/s and 17.70 ms both read naturally and both sides of a row line up.
func decimals(m float64) int {
	if m == 0 || math.IsNaN(m) || math.IsInf(m, 0) {
		return 0
	}
	d := 3 - int(math.Floor(math.Log10(m)))
	return min(max(d, 0), 6)
}

// footnotes numbers distinct note texts in order of first use.
type footnotes []string

// marks returns " ¹ ²"-style markers for texts, adding the new ones.
func (f *footnotes) marks(texts ...string) string {
	var s string
	for _, t := range texts {
		i := 0
		for i < len(*f) && (*f)[i] != t {
			i++
		}
		if i == len(*f) {
			*f = append(*f, t)
		}
		s += " " + superscript(i+1)
	}
	return s
}

func superscript(n int) string {
	const digits = "⁰¹²³⁴⁵⁶⁷⁸⁹"
	d := []rune(digits)
	var out []rune
	for _, c := range strconv.Itoa(n) {
		out = append(out, d[c-'0'])
	}
	return string(out)
}
