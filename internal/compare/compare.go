package compare

import (
	"fmt"
	"slices"
	"strings"

	"wsgilab/internal/stats"
)

// CompareKind is the "kind" of `wsgilab compare --json` output.
const CompareKind = "wsgilab.compare/v1"

// Options tune a comparison.
type Options struct {
	// Test is the two-sample test; "" means stats.MannWhitney, what benchstat uses.
	Test stats.Test
	// Alpha is the significance level; 0 means stats.Alpha (0.05).
	Alpha float64
}

func (o Options) withDefaults() Options {
	if o.Test == "" {
		o.Test = stats.MannWhitney
	}
	if o.Alpha == 0 {
		o.Alpha = stats.Alpha
	}
	return o
}

// Comparison is the result of comparing side B against side A (the baseline), what
// `wsgilab compare --json` prints.
type Comparison struct {
	// Kind is always CompareKind.
	Kind string `json:"kind"`
	// Input is what was compared: "bench" for bench files, else the scenario of the runs
	// (e.g. "throughput").
	Input string `json:"input"`
	// A and B describe the two sides; for the pairwise comparison of the cells of one run
	// both name the same file.
	A Side `json:"a"`
	B Side `json:"b"`
	// Basis says in words what the samples are, e.g. "req/s: one value per second of each
	// side's timeline", because a per-second sample of one run and a per-run sample of
	// several runs answer different questions (the first ignores run-to-run drift).
	Basis []string `json:"basis"`
	// Test, Alpha and Confidence are the settings every row used.
	Test       stats.Test `json:"test"`
	Alpha      float64    `json:"alpha"`
	Confidence float64    `json:"confidence"`
	// Cells holds, for two runs of a scenario that compares its runs itself (RunComparer),
	// each cell's verdict on both sides and the figures it measured once per run.
	Cells []CellChange `json:"cells,omitempty"`
	// Rows holds one comparison per (cell, metric), or per (cell pair, metric) for a
	// pairwise comparison, in table order: samples of repetitions, with a test.
	Rows []Row `json:"rows"`
	// Notes are remarks about the whole comparison: cells or metrics present on one side
	// only (not compared), too short timelines.
	Notes []string `json:"notes,omitempty"`
}

// Side is one side of a comparison.
type Side struct {
	// Label is the column header: the file name for one file, "A"/"B" for several.
	Label string `json:"label"`
	// Files are the paths read, in command-line order.
	Files []string `json:"files"`
}

// Row is the comparison of one metric.
type Row struct {
	// Cell is the cell ID when runs are compared ("" for bench files). In a
	// pairwise comparison it is the baseline cell and CellB the other one.
	Cell  string `json:"cell,omitempty"`
	CellB string `json:"cell_b,omitempty"`
	// Metric and Unit name what was measured, e.g. "req/s" in "req/s", "p99" in "ms".
	Metric string `json:"metric"`
	Unit   string `json:"unit"`
	// A and B summarise the two samples (mean, 95% CI of the mean, ...).
	A stats.Summary `json:"a"`
	B stats.Summary `json:"b"`
	// Comparison is B against A: delta of the means in %, p-value, test, verdict, notes.
	Comparison stats.Comparison `json:"comparison"`
}

// sample is one metric's values on one side, before summarising.
type sample struct {
	metric, unit string
	values       []float64
}

// compareSamples builds a Row. A mismatch of units is an input error: comparing
// milliseconds with microseconds would give a meaningless delta.
func compareSamples(cellA, cellB string, a, b sample, opt Options) (Row, error) {
	if a.unit != b.unit {
		return Row{}, fmt.Errorf("metric %q is in %q on one side and %q on the other", a.metric, a.unit, b.unit)
	}
	sa, err := stats.Summarize(a.values)
	if err != nil {
		return Row{}, fmt.Errorf("metric %q: %w", a.metric, err)
	}
	sb, err := stats.Summarize(b.values)
	if err != nil {
		return Row{}, fmt.Errorf("metric %q: %w", b.metric, err)
	}
	c, err := stats.Compare(a.values, b.values, opt.Test, opt.Alpha)
	if err != nil {
		return Row{}, fmt.Errorf("metric %q: %w", a.metric, err)
	}
	return Row{Cell: cellA, CellB: cellB, Metric: a.metric, Unit: a.unit, A: sa, B: sb, Comparison: c}, nil
}

func newComparison(input string, a, b Side, opt Options) *Comparison {
	return &Comparison{Kind: CompareKind, Input: input, A: a, B: b, Test: opt.Test, Alpha: opt.Alpha,
		Confidence: stats.Confidence}
}

// CompareFiles loads the files of both sides and compares B against A. All files must be of
// one kind. Every error is about the input (unreadable, not JSON, unknown or mixed kinds,
// nothing in common) and names the file.
func CompareFiles(aFiles, bFiles []string, opt Options) (*Comparison, error) {
	opt = opt.withDefaults()
	if len(aFiles) == 0 || len(bFiles) == 0 {
		return nil, fmt.Errorf("need at least one file per side")
	}
	as, err := loadAll(aFiles)
	if err != nil {
		return nil, err
	}
	bs, err := loadAll(bFiles)
	if err != nil {
		return nil, err
	}
	first := as[0]
	for _, in := range append(slices.Clone(as), bs...) {
		if in.Kind != first.Kind {
			return nil, fmt.Errorf("%s is a %s but %s is a %s: compare files of one kind",
				first.Path, first.what(), in.Path, in.what())
		}
		if in.Kind == InputRun && in.Run.Scenario != first.Run.Scenario {
			return nil, fmt.Errorf("%s is a %s but %s is a %s: compare runs of one scenario",
				first.Path, first.what(), in.Path, in.what())
		}
	}
	sideA, sideB := side("A", aFiles), side("B", bFiles)
	if first.Kind == InputBench {
		return compareBench(as, bs, sideA, sideB, opt)
	}
	return compareRuns(as, bs, sideA, sideB, opt)
}

func side(name string, files []string) Side {
	label := name
	if len(files) == 1 {
		label = baseName(files[0])
	}
	return Side{Label: label, Files: files}
}

func baseName(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}

// compareRuns pairs cells by ID and metrics by name; with several files per side the
// repetitions of a cell are pooled, so that two runs of R repetitions count as 2R. The runs
// are of one scenario (CompareFiles checked).
func compareRuns(as, bs []Input, sideA, sideB Side, opt Options) (*Comparison, error) {
	pa, pb := poolCells(as), poolCells(bs)
	c := newComparison(as[0].Run.Scenario, sideA, sideB, opt)
	for _, cell := range pa.order {
		mb, ok := pb.metrics[cell]
		if !ok {
			c.Notes = append(c.Notes, fmt.Sprintf("cell %s is only in A: not compared", cell))
			continue
		}
		ma := pa.metrics[cell]
		for _, name := range ma.order {
			sb, ok := mb.byName[name]
			if !ok {
				c.Notes = append(c.Notes, fmt.Sprintf("cell %s: metric %s is only in A: not compared", cell, name))
				continue
			}
			row, err := compareSamples(cell, "", *ma.byName[name], *sb, opt)
			if err != nil {
				return nil, fmt.Errorf("cell %s: %w", cell, err)
			}
			c.Rows = append(c.Rows, row)
		}
		for _, name := range mb.order {
			if _, ok := ma.byName[name]; !ok {
				c.Notes = append(c.Notes, fmt.Sprintf("cell %s: metric %s is only in B: not compared", cell, name))
			}
		}
	}
	for _, cell := range pb.order {
		if _, ok := pa.metrics[cell]; !ok {
			c.Notes = append(c.Notes, fmt.Sprintf("cell %s is only in B: not compared", cell))
		}
	}
	if len(c.Rows) == 0 {
		return nil, fmt.Errorf("%s and %s have no cell and metric in common: nothing to compare",
			strings.Join(sideA.Files, " "), strings.Join(sideB.Files, " "))
	}
	c.Basis = []string{repetitionBasis(c.Rows) + pooledNote(as, bs)}
	return c, nil
}

// repetitionBasis says what the samples of a comparison of runs are, naming the metrics
// compared, e.g. "one value per repetition of each cell (req/s, p50, p99)".
func repetitionBasis(rows []Row) string {
	var names []string
	for _, r := range rows {
		if !slices.Contains(names, r.Metric) {
			names = append(names, r.Metric)
		}
	}
	return "one value per repetition of each cell (" + strings.Join(names, ", ") + ")"
}

func pooledNote(as, bs []Input) string {
	if len(as) == 1 && len(bs) == 1 {
		return ""
	}
	return fmt.Sprintf(", pooled over the files of each side (%d+%d files)", len(as), len(bs))
}

// cellMetrics is one cell's samples, pooled over files, metrics in first-seen order.
type cellMetrics struct {
	order  []string
	byName map[string]*sample
}

type pooled struct {
	order   []string
	metrics map[string]*cellMetrics
}

func poolCells(ins []Input) pooled {
	p := pooled{metrics: map[string]*cellMetrics{}}
	for _, in := range ins {
		for _, cell := range in.Run.Cells {
			cm, ok := p.metrics[cell.Cell]
			if !ok {
				cm = &cellMetrics{byName: map[string]*sample{}}
				p.metrics[cell.Cell] = cm
				p.order = append(p.order, cell.Cell)
			}
			for _, s := range cell.Metrics {
				sm, ok := cm.byName[s.Name]
				if !ok {
					sm = &sample{metric: s.Name, unit: s.Unit}
					cm.byName[s.Name] = sm
					cm.order = append(cm.order, s.Name)
				}
				// A unit change between files of one side would be pooled silently;
				// mark it so compareSamples refuses it.
				if sm.unit != s.Unit {
					sm.unit = sm.unit + "|" + s.Unit
				}
				sm.values = append(sm.values, s.Values...)
			}
		}
	}
	return p
}

// ComparePairwise compares every pair of cells of one run, metric by metric, the first cell
// of each pair being the baseline; it is what a scenario prints after its per-cell table (the
// throughput scenario does), and `wsgilab compare run.json` with a single file. label names the
// run in the header and in errors (its path, for a file).
func ComparePairwise(label string, run *RunSamples, opt Options) (*Comparison, error) {
	opt = opt.withDefaults()
	if err := run.validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", label, err)
	}
	if len(run.Cells) < 2 {
		return nil, fmt.Errorf("%s: has one cell with metrics (%s): nothing to compare it with", label, run.Cells[0].Cell)
	}
	s := Side{Label: baseName(label), Files: []string{label}}
	c := newComparison(run.Scenario, s, s, opt)
	p := poolCells([]Input{{Path: label, Kind: InputRun, Run: run}})
	for i, ca := range p.order {
		for _, cb := range p.order[i+1:] {
			ma, mb := p.metrics[ca], p.metrics[cb]
			for _, name := range ma.order {
				sb, ok := mb.byName[name]
				if !ok {
					c.Notes = append(c.Notes, fmt.Sprintf("metric %s is in %s but not in %s: not compared", name, ca, cb))
					continue
				}
				row, err := compareSamples(ca, cb, *ma.byName[name], *sb, opt)
				if err != nil {
					return nil, fmt.Errorf("%s: %s vs %s: %w", label, ca, cb, err)
				}
				c.Rows = append(c.Rows, row)
			}
		}
	}
	if len(c.Rows) == 0 {
		return nil, fmt.Errorf("%s: no metric is shared by two cells: nothing to compare", label)
	}
	c.Basis = []string{repetitionBasis(c.Rows) + "; each pair of cells, the first as baseline"}
	return c, nil
}
