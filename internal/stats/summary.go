// Package stats summarises repeated measurements (req/s of several ab-like runs, per-second
// throughput of one run, latency percentiles) and tells whether two of them differ, the way
// benchstat does: a mean with a Student's t confidence interval per sample, and a named
// two-sample test per pair. The write-ups this tool replaces compared one run per side
// (563 vs 531 req/s) although their numbers drift ±20% from run to run; these functions
// exist so that a difference is only called a difference when the samples support it.
package stats

import (
	"errors"
	"math"
	"slices"

	moremath "github.com/aclements/go-moremath/stats"
)

// Confidence is the level of every confidence interval this package reports.
const Confidence = 0.95

// MinCISamples is the smallest sample with a confidence interval: one value has no spread.
const MinCISamples = 2

// ErrEmpty is returned for a sample without values: there is nothing to summarise or compare.
var ErrEmpty = errors.New("empty sample")

// Summary describes one sample. Its JSON form is documented field by field because saved
// results and `wsgilab compare --json` expose it.
type Summary struct {
	// N is the number of values.
	N int `json:"n"`
	// Mean is the arithmetic mean.
	Mean float64 `json:"mean"`
	// StdDev is the sample standard deviation (n-1 denominator); 0 when N < 2.
	StdDev float64 `json:"stddev"`
	// Median is the middle value (mean of the two middle values for an even N).
	Median float64 `json:"median"`
	// Min and Max are the extreme values.
	Min float64 `json:"min"`
	Max float64 `json:"max"`
	// CI is the 95% confidence interval of the mean (Student's t, N-1 degrees of freedom);
	// absent (nil) when N < 2, because one value says nothing about the spread.
	CI *Interval `json:"ci95,omitempty"`
}

// Interval is a confidence interval of the mean.
type Interval struct {
	// Low and High are the bounds: Mean ∓ HalfWidth.
	Low  float64 `json:"low"`
	High float64 `json:"high"`
	// HalfWidth is t(0.975, N-1) * StdDev / sqrt(N), what a table prints after "±".
	HalfWidth float64 `json:"half_width"`
}

// Summarize computes the Summary of values (not modified). Values must be finite; callers
// loading files check that, so a NaN here is a programming error that shows up as NaN.
func Summarize(values []float64) (Summary, error) {
	n := len(values)
	if n == 0 {
		return Summary{}, ErrEmpty
	}
	sorted := slices.Clone(values)
	slices.Sort(sorted)
	s := Summary{N: n, Min: sorted[0], Max: sorted[n-1], Mean: Mean(sorted)}
	if n%2 == 1 {
		s.Median = sorted[n/2]
	} else {
		s.Median = (sorted[n/2-1] + sorted[n/2]) / 2
	}
	if n >= MinCISamples {
		s.StdDev = stddev(sorted, s.Mean)
		half := TQuantile(1-(1-Confidence)/2, float64(n-1)) * s.StdDev / math.Sqrt(float64(n))
		s.CI = &Interval{Low: s.Mean - half, High: s.Mean + half, HalfWidth: half}
	}
	return s, nil
}

// TQuantile returns the p-quantile of Student's t distribution with df degrees of freedom,
// e.g. TQuantile(0.975, 4) = 2.776 (the two-sided 95% critical value for 5 values).
func TQuantile(p, df float64) float64 {
	return moremath.InvCDF(moremath.TDist{V: df})(p)
}

// Mean is the mean of xs (0 for none). It uses Welford's running update so that large req/s
// values summed over many seconds do not lose precision.
func Mean(xs []float64) float64 {
	m := 0.0
	for i, x := range xs {
		m += (x - m) / float64(i+1)
	}
	return m
}

func stddev(xs []float64, m float64) float64 {
	ss := 0.0
	for _, x := range xs {
		ss += (x - m) * (x - m)
	}
	return math.Sqrt(ss / float64(len(xs)-1))
}
