package htmlreport

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"wsgilab/internal/results"
)

// ForRun makes the report of a run: its header and plan, the verdict table (one row per
// cell: id, verdict, reason, notes), the scenario's text report (folded), and the scenario's
// charts when it draws any (Charter). dir is the run's output directory, where the cell files
// are ("" when there are none).
func ForRun(run *results.Run, dir string, sc Scenario) (*Page, error) {
	p := &Page{
		Title:    fmt.Sprintf("wsgilab run %s", run.Scenario),
		Subtitle: fmt.Sprintf("%s, %s", plural(len(run.Cells), "cell"), run.Start.UTC().Format("2006-01-02 15:04:05 MST")),
		Header:   runHeader(run),
	}
	var err error
	if p.Plan, err = planFields(run.Plan); err != nil {
		return nil, fmt.Errorf("%s run: plan: %w", run.Scenario, err)
	}
	var toner VerdictToner
	if t, ok := sc.(VerdictToner); ok {
		toner = t
	}
	if p.Summary, err = verdictTable(run, toner); err != nil {
		return nil, err
	}
	var text bytes.Buffer
	if err := sc.WriteText(&text, run); err != nil {
		return nil, fmt.Errorf("%s run: text report: %w", run.Scenario, err)
	}
	p.Text = text.String()
	ch, ok := sc.(Charter)
	if !ok {
		p.Notes = append(p.Notes, fmt.Sprintf("The %s scenario draws no charts: the table and the text report are the whole report.", run.Scenario))
		return p, nil
	}
	if p.Sections, err = ch.Charts(run, dir); err != nil {
		return nil, fmt.Errorf("%s run: charts: %w", run.Scenario, err)
	}
	return p, nil
}

func runHeader(run *results.Run) []Field {
	f := []Field{
		{"Scenario", run.Scenario},
		{"Run id", run.ID},
		{"Started", run.Start.UTC().Format("2006-01-02 15:04:05.000 MST")},
		{"Elapsed", fmt.Sprintf("%.1f s", run.Elapsed)},
		{"Broker", brokerText(run.Broker)},
	}
	if run.Shard != nil {
		f = append(f, Field{"Shard", fmt.Sprintf("%d of %d (%d of the matrix's %d cells)", run.Shard.Index, run.Shard.Count, len(run.Cells), len(run.Shard.Matrix))})
	}
	if len(run.Merged) > 0 {
		parts := make([]string, len(run.Merged))
		for i, m := range run.Merged {
			parts[i] = fmt.Sprintf("%d/%d %s (%s, %.1f s)", m.Index, m.Count, m.Dir, m.ID, m.Elapsed)
		}
		f = append(f, Field{"Merged from", strings.Join(parts, "; ")})
	}
	return f
}

// brokerText says which broker the run used, without its management URL: the page holds no
// URL (and that one, a loopback port of a node long gone, would lead nowhere).
func brokerText(b results.Broker) string {
	var s string
	if b.Private {
		s = "private RabbitMQ node"
	} else {
		s = "existing broker"
	}
	if b.AMQPPort != 0 {
		s += fmt.Sprintf(", AMQP port %d", b.AMQPPort)
	}
	if b.StartupMs > 0 {
		s += fmt.Sprintf(", ready in %.1f s", b.StartupMs/1000)
	}
	return s
}

// planFields flattens a scenario's plan (its own JSON) into name/value lines: nested objects
// as "matrix.mpms", lists of scalars joined with commas, "*_ns" durations as durations. It
// knows no plan: every scenario's is shown the same way.
func planFields(raw json.RawMessage) ([]Field, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	var out []Field
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		if list, ok := v.([]any); ok && len(list) > 0 && isObjects(list) {
			// A list of objects (a scenario's cells): a line each, named by its "id" when it
			// has one, its scalars as k=v.
			for i, e := range list {
				obj := e.(map[string]any)
				name := fmt.Sprintf("%s[%d]", prefix, i)
				if id, ok := obj["id"].(string); ok && id != "" {
					name = fmt.Sprintf("%s[%s]", prefix, id)
				}
				var pairs []string
				flattenPairs("", obj, &pairs)
				out = append(out, Field{name, strings.Join(pairs, ", ")})
			}
			return
		}
		switch x := v.(type) {
		case map[string]any:
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			// JSON objects decode unordered; the plan's own order is lost, so sort for a
			// stable page.
			sort.Strings(keys)
			for _, k := range keys {
				name := k
				if prefix != "" {
					name = prefix + "." + k
				}
				walk(name, x[k])
			}
		default:
			if s, ok := scalarText(prefix, v); ok {
				if s != "" {
					out = append(out, Field{strings.TrimSuffix(prefix, "_ns"), s})
				}
				return
			}
			b, _ := json.Marshal(v)
			out = append(out, Field{prefix, string(b)})
		}
	}
	walk("", v)
	return out, nil
}

func isObjects(list []any) bool {
	for _, e := range list {
		if _, ok := e.(map[string]any); !ok {
			return false
		}
	}
	return true
}

// flattenPairs writes an object's non-empty values as sorted k=v pairs (nested keys dotted),
// leaving out its "id" (the line's name).
func flattenPairs(prefix string, obj map[string]any, pairs *[]string) {
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		name := k
		if prefix != "" {
			name = prefix + "." + k
		} else if k == "id" {
			continue
		}
		if sub, ok := obj[k].(map[string]any); ok {
			flattenPairs(name, sub, pairs)
			continue
		}
		s, ok := scalarText(name, obj[k])
		if !ok {
			b, _ := json.Marshal(obj[k])
			s = string(b)
		}
		if s != "" {
			*pairs = append(*pairs, strings.TrimSuffix(name, "_ns")+"="+s)
		}
	}
}

// scalarText writes a plan value that is a scalar or a list of scalars; "" for an empty one
// (left out). ok is false for anything else.
func scalarText(name string, v any) (string, bool) {
	switch x := v.(type) {
	case nil:
		return "", true
	case string:
		return x, true
	case bool:
		return strconv.FormatBool(x), true
	case json.Number:
		if strings.HasSuffix(name, "_ns") {
			if n, err := x.Int64(); err == nil {
				return time.Duration(n).String(), true
			}
		}
		return x.String(), true
	case []any:
		parts := make([]string, 0, len(x))
		for _, e := range x {
			s, ok := scalarText(name, e)
			if !ok {
				return "", false
			}
			parts = append(parts, s)
		}
		return strings.Join(parts, ", "), true
	}
	return "", false
}

// verdictTable is one row per cell: its id, verdict, reason and notes, from the fields every
// cell has.
func verdictTable(run *results.Run, toner VerdictToner) (*Table, error) {
	t := &Table{Columns: []string{"cell", "verdict", "reason", "notes"}, ToneColumn: 1}
	notes := false
	for i, raw := range run.Cells {
		var c results.Cell
		if err := json.Unmarshal(raw, &c); err != nil {
			return nil, fmt.Errorf("%s run: cell %d: %w", run.Scenario, i+1, err)
		}
		t.Rows = append(t.Rows, []string{c.ID, c.Verdict.Kind, c.Verdict.Reason, strings.Join(c.Notes, "; ")})
		t.Tones = append(t.Tones, verdictTone(c.Verdict.Kind, toner))
		notes = notes || len(c.Notes) > 0
	}
	if !notes { // a column of nothing
		t.Columns = t.Columns[:3]
		for i := range t.Rows {
			t.Rows[i] = t.Rows[i][:3]
		}
	}
	return t, nil
}

func verdictTone(kind string, toner VerdictToner) Tone {
	switch kind {
	case results.Error:
		return Warn
	case results.Measured:
		return Neutral
	}
	if toner != nil {
		if t := toner.VerdictTone(kind); t != "" {
			return t
		}
	}
	return Neutral
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// Seconds is t as seconds after origin, for an x axis.
func Seconds(t, origin time.Time) float64 { return t.Sub(origin).Seconds() }

// Ms is a duration in milliseconds, for a y axis.
func Ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
