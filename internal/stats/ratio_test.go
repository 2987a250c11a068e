package stats

import (
	"math"
	"testing"
)

// With a constant baseline the interval is B's t interval scaled by 1/mean(A), with n-1
// degrees of freedom: B = {8, 10, 12, 10, 10} has mean 10 and variance of the mean 2/5, so
// (10 ± 2.776445·√0.4) / 100 = [0.082440, 0.117560] (t(0.975, 4) = 2.776445 from the table).
func TestRatioCIKnownValue(t *testing.T) {
	r, err := RatioCI([]float64{100, 100, 100}, []float64{8, 10, 12, 10, 10})
	if err != nil {
		t.Fatal(err)
	}
	if r.Estimate != 0.1 || r.Low == nil || !near(*r.Low, 0.082440, 1e-6) || !near(*r.High, 0.117560, 1e-6) || r.DF != 4 {
		t.Errorf("ratio %+v (low %v high %v)", r, deref(r.Low), deref(r.High))
	}
	if r.Method != MethodFieller || r.String() != "0.10 [0.08, 0.12]" {
		t.Errorf("method %q string %q", r.Method, r.String())
	}
}

// Both endpoints solve Fieller's equation (mean(B) - ρ·mean(A))² = t²·(var(mean B) + ρ²·var(mean A)),
// and the interval is asymmetric around the estimate the way a ratio's is (longer upwards).
func TestRatioCISolvesFiellersEquation(t *testing.T) {
	a := []float64{563, 531, 548, 555, 540}
	b := []float64{480, 470, 495, 505, 488, 476}
	r, err := RatioCI(a, b)
	if err != nil || r.Low == nil {
		t.Fatalf("%+v %v", r, err)
	}
	ma, mb := Mean(a), Mean(b)
	va, vb := variance(a, ma)/5, variance(b, mb)/6
	tq := TQuantile(0.975, r.DF)
	for _, rho := range []float64{*r.Low, *r.High} {
		lhs := (mb - rho*ma) * (mb - rho*ma)
		rhs := tq * tq * (vb + rho*rho*va)
		if !near(lhs, rhs, 1e-9*rhs) {
			t.Errorf("ρ=%v: %v != %v", rho, lhs, rhs)
		}
	}
	if !(*r.Low < r.Estimate && r.Estimate < *r.High) || *r.High-r.Estimate <= r.Estimate-*r.Low {
		t.Errorf("interval [%v, %v] around %v", *r.Low, *r.High, r.Estimate)
	}
	if r.DF < 4 || r.DF > 9 {
		t.Errorf("Welch df %v, want between min(n)-1 and nA+nB-2", r.DF)
	}
}

func TestRatioCIEdgeCases(t *testing.T) {
	// One value on a side: an estimate, no interval, a note saying why.
	r, err := RatioCI([]float64{563}, []float64{531})
	if err != nil || r.Low != nil || r.Note == "" || r.String() != "0.94 [?]" {
		t.Errorf("1+1: %+v %v", r, err)
	}
	// No spread at all: the interval is the point.
	r, _ = RatioCI([]float64{4, 4}, []float64{2, 2})
	if r.Low == nil || *r.Low != 0.5 || *r.High != 0.5 {
		t.Errorf("constant samples: %+v", r)
	}
	// A baseline whose mean is not distinguishable from 0: unbounded, said so.
	r, _ = RatioCI([]float64{-1, 1, 2, -1.5}, []float64{10, 11, 12})
	if r.Low != nil || r.Note == "" {
		t.Errorf("baseline around 0: %+v", r)
	}
	if _, err := RatioCI([]float64{0, 0}, []float64{1, 2}); err == nil {
		t.Error("a zero baseline mean gave a ratio")
	}
	if _, err := RatioCI(nil, []float64{1}); err != ErrEmpty {
		t.Errorf("empty: %v", err)
	}
}

func deref(p *float64) float64 {
	if p == nil {
		return math.NaN()
	}
	return *p
}
