package stats

import (
	"fmt"
	"slices"
	"strings"

	"golang.org/x/perf/benchmath"
)

// Alpha is the default significance level: a difference is reported when p < Alpha.
const Alpha = 0.05

// Test names a two-sample test. Its value is what tables and JSON print, so that a reader
// knows which assumption a p-value rests on.
type Test string

const (
	// MannWhitney is the two-sided Mann-Whitney U test (exact distribution for small samples,
	// normal approximation with tie correction for large ones). It assumes nothing about the
	// shape of the distribution, which is why benchstat uses it (benchmath.AssumeNothing):
	// throughput and latency samples are skewed and often bimodal (a respawn, a reconnect).
	// Its price: with 5+5 values the smallest possible p is 0.008, and below 4+4 no
	// difference can reach p < 0.05 at all.
	MannWhitney Test = "Mann-Whitney U"
	// Welch is the two-sided Welch's t-test (unequal variances, benchmath.AssumeNormal). It
	// has more power on small samples but trusts the means to be roughly normal.
	Welch Test = "Welch t"
)

// ParseTest accepts the spellings a flag would use: "utest", "u", "mann-whitney" for
// MannWhitney; "welch", "ttest", "t" for Welch.
func ParseTest(s string) (Test, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "utest", "u", "u-test", "mann-whitney", "mannwhitney", strings.ToLower(string(MannWhitney)):
		return MannWhitney, nil
	case "welch", "ttest", "t", "t-test", strings.ToLower(string(Welch)):
		return Welch, nil
	}
	return "", fmt.Errorf("unknown test %q (want utest or welch)", s)
}

// Comparison is the outcome of comparing sample B against sample A (the baseline).
type Comparison struct {
	// NA and NB are the sample sizes.
	NA int `json:"n_a"`
	NB int `json:"n_b"`
	// DeltaPct is the difference of the means in percent of A's mean: (meanB/meanA - 1) * 100.
	// Absent when A's mean is 0 (no percentage exists). It is reported even when the
	// difference is not significant; Verdict hides it then, as benchstat does.
	DeltaPct *float64 `json:"delta_pct,omitempty"`
	// P is the two-sided p-value of Test under the null hypothesis that both samples come
	// from the same distribution. 1 when the test cannot be computed (see Notes).
	P float64 `json:"p"`
	// Ratio is mean(B)/mean(A) with its 95% confidence interval (RatioCI, Fieller's method),
	// what "B is 0.88x A, between 0.84x and 0.92x" reads from. Absent when A's mean is 0.
	Ratio *Ratio `json:"ratio,omitempty"`
	// Test names the test that produced P.
	Test Test `json:"test"`
	// Alpha is the significance level; Significant is P < Alpha.
	Alpha       float64 `json:"alpha"`
	Significant bool    `json:"significant"`
	// Verdict is the benchstat-style cell: "+5.2% (p=0.008 n=5+5)" when significant,
	// "~ (p=0.421 n=5+5)" when not ("~" = no difference shown by these samples).
	Verdict string `json:"verdict"`
	// Notes say why a comparison is weak or impossible, e.g. "need >= 4 samples to detect a
	// difference at alpha level 0.05" (Mann-Whitney with fewer than 4 values per side can
	// never reach p < 0.05), "all samples are equal", "need >= 2 samples per side for
	// Welch's t-test".
	Notes []string `json:"notes,omitempty"`
}

// Compare tests whether b differs from a (neither is modified). alpha <= 0 means Alpha.
// Too few values are not an error: the Comparison is returned with P = 1 or a P that cannot
// reach alpha, and a note saying how many values are needed. Only an empty side is an error.
func Compare(a, b []float64, test Test, alpha float64) (Comparison, error) {
	if len(a) == 0 || len(b) == 0 {
		return Comparison{}, ErrEmpty
	}
	if alpha <= 0 {
		alpha = Alpha
	}
	if alpha >= 1 {
		return Comparison{}, fmt.Errorf("alpha %v is not in (0, 1)", alpha)
	}
	th := &benchmath.Thresholds{CompareAlpha: alpha}
	// benchmath sorts the values in place: give it copies.
	sa := benchmath.NewSample(slices.Clone(a), th)
	sb := benchmath.NewSample(slices.Clone(b), th)

	c := Comparison{NA: len(a), NB: len(b), Test: test, Alpha: alpha, P: 1}
	var res benchmath.Comparison
	switch test {
	case MannWhitney:
		res = benchmath.AssumeNothing.Compare(sa, sb)
	case Welch:
		if len(a) < 2 || len(b) < 2 {
			// benchmath would say "sample is too small"; say what is needed instead.
			c.Notes = append(c.Notes, "need >= 2 samples per side for Welch's t-test")
			res = benchmath.Comparison{P: 1}
		} else {
			res = benchmath.AssumeNormal.Compare(sa, sb)
		}
	default:
		return Comparison{}, fmt.Errorf("unknown test %q", test)
	}
	c.P = res.P
	for _, w := range res.Warnings {
		c.Notes = append(c.Notes, w.Error())
	}
	c.Significant = c.P < alpha

	ma, mb := Mean(a), Mean(b)
	if ma != 0 {
		d := (mb/ma - 1) * 100
		c.DeltaPct = &d
	}
	if r, err := RatioCI(a, b); err == nil {
		c.Ratio = &r
	}
	c.Verdict = verdict(c)
	return c, nil
}

func verdict(c Comparison) string {
	stat := fmt.Sprintf("(p=%.3f n=%d+%d)", c.P, c.NA, c.NB)
	switch {
	case !c.Significant:
		return "~ " + stat
	case c.DeltaPct == nil:
		return "? " + stat
	default:
		return fmt.Sprintf("%+.1f%% %s", *c.DeltaPct, stat)
	}
}
