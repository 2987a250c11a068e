package stats

import (
	"math"
	"testing"
)

func TestSeriesValidate(t *testing.T) {
	ok := Series{Name: MetricThroughput, Unit: UnitReqPerSec, Values: []float64{563, 531}}
	if err := ok.Validate(); err != nil {
		t.Errorf("valid series: %v", err)
	}
	for _, bad := range []Series{
		{Unit: "ms", Values: []float64{1}},
		{Name: "p50"},
		{Name: "p50", Values: []float64{1, math.NaN()}},
		{Name: "p99", Values: []float64{math.Inf(1)}},
	} {
		if bad.Validate() == nil {
			t.Errorf("invalid series accepted: %+v", bad)
		}
	}
}
