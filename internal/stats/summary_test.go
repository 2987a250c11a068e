package stats

import (
	"errors"
	"math"
	"testing"
)

func near(got, want, tol float64) bool { return math.Abs(got-want) <= tol }

// Critical values of Student's t from printed tables (and scipy.stats.t.ppf, shown to 6
// places), so that the CI does not silently switch to a normal approximation.
func TestTQuantileKnownValues(t *testing.T) {
	for _, tc := range []struct {
		p, df, want float64
	}{
		{0.975, 1, 12.706205},
		{0.975, 2, 4.302653},
		{0.975, 4, 2.776445},
		{0.975, 9, 2.262157},
		{0.975, 30, 2.042272},
		{0.95, 10, 1.812461},
		{0.5, 7, 0},
	} {
		if got := TQuantile(tc.p, tc.df); !near(got, tc.want, 1e-5) {
			t.Errorf("TQuantile(%v, %v) = %.6f, want %.6f", tc.p, tc.df, got, tc.want)
		}
	}
}

// A sample whose CI was computed by hand: {10, 12, 14, 16, 18} has mean 14, squared
// deviations 16+4+0+4+16 = 40, variance 40/4 = 10, standard error sqrt(10/5) = sqrt(2), so the
// 95% CI is 14 ± 2.776445*1.414214 = 14 ± 3.926486 = [10.073514, 17.926486].
func TestSummarizeHandComputed(t *testing.T) {
	in := []float64{18, 10, 14, 16, 12} // unsorted on purpose
	s, err := Summarize(in)
	if err != nil {
		t.Fatal(err)
	}
	if s.N != 5 || s.Mean != 14 || s.Median != 14 || s.Min != 10 || s.Max != 18 {
		t.Errorf("summary = %+v", s)
	}
	if !near(s.StdDev, math.Sqrt(10), 1e-12) {
		t.Errorf("stddev = %v, want sqrt(10)", s.StdDev)
	}
	if s.CI == nil {
		t.Fatal("no CI for n=5")
	}
	if !near(s.CI.HalfWidth, 3.926486, 1e-5) || !near(s.CI.Low, 10.073514, 1e-5) || !near(s.CI.High, 17.926486, 1e-5) {
		t.Errorf("CI = %+v, want 14 ± 3.926486", *s.CI)
	}
	if in[0] != 18 {
		t.Error("Summarize modified its input")
	}
}

// The two runs of seed 000 (prefork 563, event 531 req/s) as a two-value sample: the CI uses
// t(0.975, 1) = 12.706, i.e. 547 ± 203 — one run per side says almost nothing.
func TestSummarizeTwoValues(t *testing.T) {
	s, err := Summarize([]float64{563, 531})
	if err != nil {
		t.Fatal(err)
	}
	// sd = 32/sqrt(2) = 22.627417; half = 12.706205 * 22.627417 / sqrt(2) = 12.706205 * 16.
	if s.Median != 547 || !near(s.CI.HalfWidth, 203.29928, 1e-4) {
		t.Errorf("summary = %+v, CI = %+v", s, *s.CI)
	}
}

func TestSummarizeOneValueHasNoCI(t *testing.T) {
	s, err := Summarize([]float64{563})
	if err != nil {
		t.Fatal(err)
	}
	if s.N != 1 || s.Mean != 563 || s.StdDev != 0 || s.CI != nil {
		t.Errorf("summary = %+v, want n=1 mean=563 stddev=0 and no CI", s)
	}
}

func TestSummarizeEmpty(t *testing.T) {
	if _, err := Summarize(nil); !errors.Is(err, ErrEmpty) {
		t.Errorf("err = %v, want ErrEmpty", err)
	}
}

func TestSummarizeEvenMedian(t *testing.T) {
	s, _ := Summarize([]float64{4, 1, 3, 2})
	if s.Median != 2.5 {
		t.Errorf("median = %v, want 2.5", s.Median)
	}
}
