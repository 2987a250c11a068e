package compare

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"wsgilab/internal/bench"
)

// writeResult saves r the way 'wsgilab bench --json' does.
func writeResult(t *testing.T, r *bench.Result) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "bench.json")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := r.WriteJSON(f); err != nil {
		t.Fatal(err)
	}
	return path
}

// compare reads what 'wsgilab bench --json' writes: a renamed bench JSON field would make this
// fail instead of compare silently reading zeros.
func TestCompareReadsBenchJSON(t *testing.T) {
	r := &bench.Result{
		Concurrency: 10,
		Requests:    1000,
		Elapsed:     1800 * time.Millisecond, // the second second is partial
		Complete:    1000,
		StopReason:  "requests",
		Throughput:  bench.Throughput{RequestsPerSecond: 555.5},
		Served:      []bench.Served{{Percent: 50, Latency: 17 * time.Millisecond}, {Percent: 99, Latency: 45 * time.Millisecond}},
		Percentiles: []bench.Percentile{{Percentile: 50, Latency: 17500 * time.Microsecond}, {Percentile: 99, Latency: 46 * time.Millisecond}},
		Timeline: []bench.Second{
			{Second: 0, Completed: 560, P50: 17 * time.Millisecond, P99: 44 * time.Millisecond},
			{Second: 1, Completed: 440, P50: 18 * time.Millisecond, P99: 47 * time.Millisecond},
		},
	}
	path := writeResult(t, r)
	in, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if in.Kind != InputBench {
		t.Fatalf("kind = %q, want bench", in.Kind)
	}

	// One file per side: the timeline is the sample.
	c, err := CompareFiles([]string{path}, []string{path}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		metric string
		n      int
		mean   float64
	}{
		{"req/s", 1, 560}, // only second 0 is whole
		{"p50", 2, 17.5},  // (17 + 18) / 2 ms
		{"p99", 2, 45.5},  // (44 + 47) / 2 ms
	}
	for i, w := range want {
		row := c.Rows[i]
		if row.Metric != w.metric || row.A.N != w.n || row.A.Mean != w.mean {
			t.Errorf("timeline row %d = %s n=%d mean=%v, want %s n=%d mean=%v", i, row.Metric, row.A.N, row.A.Mean, w.metric, w.n, w.mean)
		}
	}

	// Several files on a side: each file is one value, p50/p99 from "percentiles".
	c, err = CompareFiles([]string{path, path}, []string{path}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i, mean := range []float64{555.5, 17.5, 46} {
		if row := c.Rows[i]; row.A.N != 2 || row.A.Mean != mean {
			t.Errorf("per-run row %d (%s) n=%d mean=%v, want n=2 mean=%v", i, row.Metric, row.A.N, row.A.Mean, mean)
		}
	}
}
