package stats

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func mustCompare(t *testing.T, a, b []float64, test Test) Comparison {
	t.Helper()
	c, err := Compare(a, b, test, 0)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCompareIdenticalNotSignificant(t *testing.T) {
	a := []float64{563, 531, 548, 555, 540}
	for _, test := range []Test{MannWhitney, Welch} {
		c := mustCompare(t, a, slices.Clone(a), test)
		if c.Significant || c.P != 1 {
			t.Errorf("%s: identical samples: %+v, want p=1 not significant", test, c)
		}
		if c.Verdict != "~ (p=1.000 n=5+5)" {
			t.Errorf("%s: verdict = %q", test, c.Verdict)
		}
		if c.DeltaPct == nil || *c.DeltaPct != 0 {
			t.Errorf("%s: delta = %v, want 0", test, c.DeltaPct)
		}
	}
}

// Fully separated 5+5 samples: of the C(10,5) = 252 equally likely rank arrangements, 2 are
// this extreme (either direction), so the exact two-sided Mann-Whitney p is 2/252 = 0.00794.
func TestCompareSeparatedMannWhitneyExact(t *testing.T) {
	a := []float64{500, 510, 505, 495, 490} // mean 500
	b := []float64{530, 540, 535, 525, 545} // mean 535
	c := mustCompare(t, a, b, MannWhitney)
	if !near(c.P, 2.0/252, 1e-12) || !c.Significant {
		t.Errorf("p = %v significant=%v, want 2/252", c.P, c.Significant)
	}
	if c.Verdict != "+7.0% (p=0.008 n=5+5)" {
		t.Errorf("verdict = %q", c.Verdict)
	}
	if c.Test != MannWhitney || c.NA != 5 || c.NB != 5 || c.Alpha != 0.05 {
		t.Errorf("comparison = %+v", c)
	}
	// The direction does not change p, only the sign of the delta.
	r := mustCompare(t, b, a, MannWhitney)
	if r.P != c.P || !strings.HasPrefix(r.Verdict, "-6.5% ") {
		t.Errorf("reversed: %+v", r)
	}
}

// Partly overlapping 5+5: x = {1..5}, y = {3.5, 6, 7, 8, 9}; U = 2 (pairs 4>3.5, 5>3.5). The
// arrangements with U <= 2 number 1+1+2 = 4 of 252, so p = 2*4/252 = 0.031746 (scipy's
// mannwhitneyu(method="exact") agrees).
func TestCompareMannWhitneyPartialOverlap(t *testing.T) {
	c := mustCompare(t, []float64{1, 2, 3, 4, 5}, []float64{3.5, 6, 7, 8, 9}, MannWhitney)
	if !near(c.P, 8.0/252, 1e-12) || !c.Significant {
		t.Errorf("p = %v, want 8/252", c.P)
	}
}

// Welch on {10,12,14,16,18} vs {13,...,21}: both variances 10, t = -3/2 = -1.5, Welch df =
// (2+2)^2 / (2^2/4 + 2^2/4) = 8, two-sided p = 0.172003 (numerical integral of the t(8) pdf).
func TestCompareWelchKnownValue(t *testing.T) {
	c := mustCompare(t, []float64{10, 12, 14, 16, 18}, []float64{13, 15, 17, 19, 21}, Welch)
	if !near(c.P, 0.172003, 1e-5) || c.Significant || c.Test != Welch {
		t.Errorf("comparison = %+v, want p=0.172003", c)
	}
	if c.Verdict != "~ (p=0.172 n=5+5)" {
		t.Errorf("verdict = %q", c.Verdict)
	}
	if !near(*c.DeltaPct, 100.0*3/14, 1e-9) {
		t.Errorf("delta = %v", *c.DeltaPct)
	}
}

// With 3+3 values Mann-Whitney cannot go below p = 0.1, whatever the data: the comparison
// must not look like a measured "no difference" without saying so.
func TestCompareTooFewSamples(t *testing.T) {
	c := mustCompare(t, []float64{1, 2, 3}, []float64{10, 11, 12}, MannWhitney)
	if c.Significant || !near(c.P, 0.1, 1e-12) {
		t.Errorf("3+3 separated: %+v", c)
	}
	if len(c.Notes) != 1 || c.Notes[0] != "need >= 4 samples to detect a difference at alpha level 0.05" {
		t.Errorf("notes = %q", c.Notes)
	}
	// The minimum at 4+4 (2/70 = 0.029) can reach 0.05: no note then.
	c = mustCompare(t, []float64{1, 2, 3, 4}, []float64{10, 11, 12, 13}, MannWhitney)
	if !c.Significant || len(c.Notes) != 0 {
		t.Errorf("4+4 separated: %+v", c)
	}
	// Seed 000's single runs: nothing can be concluded.
	c = mustCompare(t, []float64{563}, []float64{531}, MannWhitney)
	if c.Significant || len(c.Notes) == 0 || c.Verdict != "~ (p=1.000 n=1+1)" {
		t.Errorf("1+1: %+v", c)
	}
	c = mustCompare(t, []float64{563}, []float64{531, 540}, Welch)
	if c.Significant || c.P != 1 || len(c.Notes) != 1 || !strings.Contains(c.Notes[0], ">= 2 samples") {
		t.Errorf("welch 1+2: %+v", c)
	}
}

func TestCompareAllEqualValues(t *testing.T) {
	c := mustCompare(t, []float64{7, 7, 7, 7, 7}, []float64{7, 7, 7, 7, 7}, MannWhitney)
	if c.Significant || c.P != 1 || !slices.Contains(c.Notes, "all samples are equal") {
		t.Errorf("constant samples: %+v", c)
	}
}

func TestCompareZeroBaselineHasNoDelta(t *testing.T) {
	c := mustCompare(t, []float64{0, 0, 0, 0, 0}, []float64{1, 2, 3, 4, 5}, MannWhitney)
	if c.DeltaPct != nil || !c.Significant || !strings.HasPrefix(c.Verdict, "? (p=") {
		t.Errorf("zero baseline: %+v", c)
	}
}

func TestCompareErrors(t *testing.T) {
	if _, err := Compare(nil, []float64{1}, MannWhitney, 0); !errors.Is(err, ErrEmpty) {
		t.Errorf("empty A: %v", err)
	}
	if _, err := Compare([]float64{1}, []float64{1}, "sign", 0); err == nil {
		t.Error("unknown test accepted")
	}
	if _, err := Compare([]float64{1}, []float64{1}, MannWhitney, 1.5); err == nil {
		t.Error("alpha 1.5 accepted")
	}
}

func TestCompareAlpha(t *testing.T) {
	// p = 8/252 = 0.032: significant at 0.05, not at 0.01.
	c, err := Compare([]float64{1, 2, 3, 4, 5}, []float64{3.5, 6, 7, 8, 9}, MannWhitney, 0.01)
	if err != nil || c.Significant || c.Alpha != 0.01 {
		t.Errorf("alpha 0.01: %+v %v", c, err)
	}
}

func TestCompareDoesNotModifyInput(t *testing.T) {
	a, b := []float64{3, 1, 2, 5, 4}, []float64{9, 7, 8, 6, 10}
	mustCompare(t, a, b, MannWhitney)
	mustCompare(t, a, b, Welch)
	if !slices.Equal(a, []float64{3, 1, 2, 5, 4}) || !slices.Equal(b, []float64{9, 7, 8, 6, 10}) {
		t.Errorf("inputs modified: %v %v", a, b)
	}
}

func TestParseTest(t *testing.T) {
	for in, want := range map[string]Test{"utest": MannWhitney, "Mann-Whitney U": MannWhitney, "welch": Welch, " T ": Welch} {
		if got, err := ParseTest(in); err != nil || got != want {
			t.Errorf("ParseTest(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseTest("ks"); err == nil {
		t.Error("ParseTest(ks) accepted")
	}
}
