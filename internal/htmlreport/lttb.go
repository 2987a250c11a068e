package htmlreport

import "math"

// DefaultMaxPoints bounds each series of a chart after downsampling: a chart a few hundred
// pixels wide shows no more, and a long run (an hour of per-second samples, a spikes run of
// 100 000 requests) stays a page of a few hundred KB.
const DefaultMaxPoints = 1500

// LTTB picks at most threshold of the points (xs[i], ys[i]), xs ascending, that keep the
// line's shape, and returns their indices in ascending order: Largest-Triangle-Three-Buckets
// (Sveinn Steinarsson, "Downsampling Time Series for Visual Representation", 2013), what
// vegeta's plot uses. The first and last points are always kept; the others are split into
// threshold-2 buckets, and each bucket keeps the point that makes the largest triangle with
// the point kept before it and the average of the next bucket, so peaks and drops survive
// where averaging would flatten them. With threshold >= len(xs), or below 3, every index is
// returned.
func LTTB(xs, ys []float64, threshold int) []int {
	n := len(xs)
	if threshold >= n || threshold < 3 {
		out := make([]int, n)
		for i := range out {
			out[i] = i
		}
		return out
	}
	out := make([]int, 0, threshold)
	out = append(out, 0)
	size := float64(n-2) / float64(threshold-2)
	a := 0
	for b := 0; b < threshold-2; b++ {
		// This bucket is [lo, hi); the next one [hi, nextHi), whose average is the third
		// corner (the last point when this bucket is the last).
		lo := int(float64(b)*size) + 1
		hi := int(float64(b+1)*size) + 1
		nextHi := min(int(float64(b+2)*size)+1, n)
		if b == threshold-3 {
			hi, nextHi = n-1, n
		}
		var cx, cy float64
		for j := hi; j < nextHi; j++ {
			cx += xs[j]
			cy += ys[j]
		}
		k := float64(nextHi - hi)
		cx, cy = cx/k, cy/k
		best, bestArea := lo, -1.0
		for j := lo; j < hi; j++ {
			area := math.Abs((xs[a]-cx)*(ys[j]-ys[a]) - (xs[a]-xs[j])*(cy-ys[a]))
			if area > bestArea {
				best, bestArea = j, area
			}
		}
		out = append(out, best)
		a = best
	}
	return append(out, n-1)
}

// downsample bounds each series to MaxPoints points. Series share their x values, so the x
// values kept are the union of what LTTB keeps of each series (on its non-gap points), plus
// every point of the series marked Keep; each series keeps its values at those x.
func (c *Chart) downsample() {
	max := c.MaxPoints
	if max <= 0 {
		max = DefaultMaxPoints
	}
	n := len(c.Xs)
	if n <= max {
		return
	}
	keep := make([]bool, n)
	keep[0], keep[n-1] = true, true
	for _, s := range c.Series {
		var idx []int
		for i, v := range s.Values {
			if !math.IsNaN(v) && !math.IsInf(v, 0) {
				idx = append(idx, i)
			}
		}
		if s.Keep || len(idx) <= max {
			for _, i := range idx {
				keep[i] = true
			}
			continue
		}
		xs, ys := make([]float64, len(idx)), make([]float64, len(idx))
		for j, i := range idx {
			xs[j], ys[j] = c.Xs[i], s.Values[i]
		}
		for _, j := range LTTB(xs, ys, max) {
			keep[idx[j]] = true
		}
	}
	pick := func(v Values) Values {
		if v == nil {
			return nil
		}
		out := make(Values, 0, max)
		for i, k := range keep {
			if k && i < len(v) {
				out = append(out, v[i])
			}
		}
		return out
	}
	c.DownsampledFrom = n
	c.Xs = pick(c.Xs)
	for i := range c.Series {
		s := &c.Series[i]
		s.Values, s.Low, s.High = pick(s.Values), pick(s.Low), pick(s.High)
	}
}
