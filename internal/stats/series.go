package stats

import (
	"fmt"
	"math"
)

// Metric names and units used in saved results, so that both sides of a comparison agree.
const (
	// MetricThroughput is completed requests per second (ab's "Requests per second").
	MetricThroughput = "req/s"
	// MetricP50 and MetricP99 are latency percentiles, in UnitMillis.
	MetricP50 = "p50"
	MetricP99 = "p99"

	UnitReqPerSec = "req/s"
	UnitMillis    = "ms"
)

// Series is a sample of one metric: one value per repetition of a run (or per second of one
// run). Saved results carry one Series per metric per cell; comparisons pair Series by Name.
type Series struct {
	// Name is the metric, e.g. "req/s", "p50", "p99".
	Name string `json:"name"`
	// Unit is the unit of Values, e.g. "req/s", "ms".
	Unit string `json:"unit"`
	// Values are the measurements, in the order they were taken.
	Values []float64 `json:"values"`
}

// Validate reports a series that cannot be summarised: no name, no values, or a value that
// is NaN or infinite (JSON cannot carry those, and one would poison every mean).
func (s Series) Validate() error {
	if s.Name == "" {
		return fmt.Errorf("series without a name")
	}
	if len(s.Values) == 0 {
		return fmt.Errorf("series %q: no values", s.Name)
	}
	for i, v := range s.Values {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("series %q: value %d is %v", s.Name, i, v)
		}
	}
	return nil
}
