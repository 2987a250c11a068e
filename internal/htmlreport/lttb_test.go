package htmlreport

import (
	"math"
	"slices"
	"testing"
)

// LTTB keeps the first and last points, returns threshold ascending indices, and keeps what a
// chart must show: a lone spike and a lone dip of a long flat series.
func TestLTTB(t *testing.T) {
	n := 10000
	xs, ys := make([]float64, n), make([]float64, n)
	for i := range xs {
		xs[i] = float64(i)
		ys[i] = math.Sin(float64(i) / 300)
	}
	ys[4321] = 50  // a spike
	ys[7777] = -50 // a dip
	idx := LTTB(xs, ys, 200)
	if len(idx) != 200 {
		t.Fatalf("%d points, want 200", len(idx))
	}
	if idx[0] != 0 || idx[len(idx)-1] != n-1 {
		t.Errorf("first and last are %d and %d, want 0 and %d", idx[0], idx[len(idx)-1], n-1)
	}
	if !slices.IsSorted(idx) {
		t.Errorf("indices not ascending: %v", idx)
	}
	for _, want := range []int{4321, 7777} {
		if !slices.Contains(idx, want) {
			t.Errorf("point %d (%v) dropped", want, ys[want])
		}
	}
	// Nothing to drop: every index.
	if got := LTTB(xs[:10], ys[:10], 50); len(got) != 10 {
		t.Errorf("10 points with threshold 50: %d", len(got))
	}
	if got := LTTB(xs[:10], ys[:10], 2); len(got) != 10 {
		t.Errorf("threshold 2 (below LTTB's 3): %d points, want all 10", len(got))
	}
}

// A chart's series share their x: downsampling keeps the union of each series' LTTB points
// and every point of a Keep series, and all series stay aligned.
func TestChartDownsample(t *testing.T) {
	n := 50000
	c := Chart{X: Axis{Label: "s"}, Y: Axis{Label: "ms"}, Xs: make(Values, n), MaxPoints: 500}
	a, b, marks := make(Values, n), make(Values, n), make(Values, n)
	for i := range n {
		c.Xs[i] = float64(i) / 100
		a[i] = float64(i % 97)
		b[i] = math.NaN()
		if i%2 == 0 {
			b[i] = float64(i % 13)
		}
		marks[i] = math.NaN()
	}
	a[31337] = 1e4
	for _, i := range []int{17, 23456, 49998} {
		marks[i] = 1
	}
	c.Series = []Series{{Label: "a", Values: a}, {Label: "b", Values: b}, {Label: "cold", Style: StylePoints, Values: marks, Keep: true}}
	c.normalize()
	if c.DownsampledFrom != n {
		t.Errorf("DownsampledFrom %d, want %d", c.DownsampledFrom, n)
	}
	if len(c.Xs) > 2*500+3 || len(c.Xs) < 500 {
		t.Errorf("%d x values kept, want between 500 and %d", len(c.Xs), 2*500+3)
	}
	for _, s := range c.Series {
		if len(s.Values) != len(c.Xs) {
			t.Fatalf("series %s: %d values for %d x", s.Label, len(s.Values), len(c.Xs))
		}
	}
	kept := 0
	for _, v := range c.Series[2].Values {
		if v == 1 {
			kept++
		}
	}
	if kept != 3 {
		t.Errorf("%d of the 3 kept points survived", kept)
	}
	if !slices.Contains(c.Series[0].Values, 1e4) {
		t.Error("the spike of series a was dropped")
	}
	if c.Points != c.points() || c.Points == 0 {
		t.Errorf("Points %d, counted %d", c.Points, c.points())
	}
	// The caller's slices are left as they were.
	if len(a) != n || a[31337] != 1e4 {
		t.Error("normalize changed the caller's values")
	}
}

// Values on a log axis that it cannot draw (<= 0) become gaps, so that Points counts what
// is drawn.
func TestNormalizeLogAxis(t *testing.T) {
	c := Chart{Y: Axis{Scale: ScaleLog}, Xs: Values{0, 1, 2, 3},
		Series: []Series{{Label: "ms", Values: Values{1, 0, -2, 5}}}}
	c.normalize()
	if c.Points != 2 || !math.IsNaN(c.Series[0].Values[1]) || !math.IsNaN(c.Series[0].Values[2]) {
		t.Errorf("points %d, values %v", c.Points, c.Series[0].Values)
	}
	// A short series is padded with gaps to the x values.
	c = Chart{Xs: Values{0, 1, 2}, Series: []Series{{Label: "short", Values: Values{1}}}}
	c.normalize()
	if len(c.Series[0].Values) != 3 || c.Points != 1 {
		t.Errorf("padded to %v, %d points", c.Series[0].Values, c.Points)
	}
}
