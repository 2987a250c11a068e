package stats

import (
	"fmt"
	"math"
)

// MethodFieller names the ratio interval RatioCI computes.
const MethodFieller = "Fieller"

// Ratio is the ratio of two means, B/A, with its confidence interval: "event/prefork = 0.88
// [0.84, 0.92]" says event's mean is 88% of prefork's, and that the data allow 84% to 92%.
//
// JSON: {"estimate": 0.88, "low": 0.84, "high": 0.92, "method": "Fieller", "df": 7.6}
// ("low" and "high" absent when the interval is unbounded, see Note).
type Ratio struct {
	// Estimate is mean(B) / mean(A).
	Estimate float64 `json:"estimate"`
	// Low and High bound the Confidence interval of the ratio of the true means; nil when
	// the interval is unbounded (A's mean is not distinguishable from 0) or cannot be
	// computed (fewer than two values on a side).
	Low  *float64 `json:"low,omitempty"`
	High *float64 `json:"high,omitempty"`
	// Method is MethodFieller; DF the degrees of freedom of its t quantile (Welch).
	Method string  `json:"method"`
	DF     float64 `json:"df,omitempty"`
	// Note says why there is no interval, when there is none.
	Note string `json:"note,omitempty"`
}

// String is "0.88 [0.84, 0.92]", or "0.88 [?]" without an interval.
func (r Ratio) String() string {
	if r.Low == nil || r.High == nil {
		return fmt.Sprintf("%.2f [?]", r.Estimate)
	}
	return fmt.Sprintf("%.2f [%.2f, %.2f]", r.Estimate, *r.Low, *r.High)
}

// RatioCI returns Mean(b)/Mean(a) with its Confidence interval by Fieller's method, treating
// the two samples as independent with unequal variances (the t quantile takes Welch's
// degrees of freedom for the variance of Mean(b) - ratio*Mean(a)).
//
// Why Fieller rather than the delta method or a bootstrap: a ratio's sampling distribution is
// skewed, and Fieller's interval is exact for normal means and comes out asymmetric as it
// should (the delta method's symmetric one is not); with the 5 to 10 repetitions a scenario
// affords, a percentile bootstrap under-covers (it cannot see tails the few values do not
// show) and it is random, where tables and golden tests need the same input to give the same
// interval. Fieller's interval is unbounded when A's mean is not significantly different
// from 0; that is reported as no interval, with a note.
func RatioCI(a, b []float64) (Ratio, error) {
	if len(a) == 0 || len(b) == 0 {
		return Ratio{}, ErrEmpty
	}
	ma, mb := Mean(a), Mean(b)
	if ma == 0 {
		return Ratio{}, fmt.Errorf("the baseline's mean is 0: no ratio")
	}
	r := Ratio{Estimate: mb / ma, Method: MethodFieller}
	if len(a) < MinCISamples || len(b) < MinCISamples {
		r.Note = fmt.Sprintf("need >= %d samples per side for a ratio interval", MinCISamples)
		return r, nil
	}
	va := variance(a, ma) / float64(len(a)) // variance of each mean
	vb := variance(b, mb) / float64(len(b))
	if va == 0 && vb == 0 {
		r.Low, r.High = ptr(r.Estimate), ptr(r.Estimate)
		return r, nil
	}
	// Welch-Satterthwaite degrees of freedom of Mean(b) - ratio*Mean(a) at the estimate.
	x, y := vb, r.Estimate*r.Estimate*va
	den := 0.0
	if x > 0 {
		den += x * x / float64(len(b)-1)
	}
	if y > 0 {
		den += y * y / float64(len(a)-1)
	}
	r.DF = (x + y) * (x + y) / den
	t := TQuantile(1-(1-Confidence)/2, r.DF)
	t2 := t * t
	// (mb - ratio*ma)^2 = t^2 (vb + ratio^2 va): a quadratic in the ratio whose roots, when the
	// parabola opens upwards (ma^2 > t^2 va, i.e. A's mean is significantly non-zero), bound
	// the interval.
	qa := ma*ma - t2*va
	if qa <= 0 {
		r.Note = "the baseline's mean is not distinguishable from 0: the ratio's interval is unbounded"
		return r, nil
	}
	disc := ma*ma*vb + mb*mb*va - t2*va*vb
	if disc < 0 {
		disc = 0 // only reached by rounding when qa > 0
	}
	half := t * math.Sqrt(disc)
	lo, hi := (ma*mb-half)/qa, (ma*mb+half)/qa
	r.Low, r.High = ptr(lo), ptr(hi)
	return r, nil
}

func variance(xs []float64, m float64) float64 {
	s := stddev(xs, m)
	return s * s
}

func ptr(x float64) *float64 { return &x }
