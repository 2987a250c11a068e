package observe

import (
	"context"
	"slices"
	"time"
)

// ReadProcessEvents reads a whole Apache error log through ProcessRules (mod_wsgi's process
// and interpreter creation and script loading, prefork's spawning, the fake app's "loaded"
// line) and returns the events in time order.
func ReadProcessEvents(f LogFile) ([]Event, error) {
	f.Offset = 0
	lt := NewLogTail("processes", f)
	lt.Rules = ProcessRules
	defer lt.Close()
	now := time.Now()
	_, events, err := lt.Sample(context.Background(), now)
	events = append(events, lt.Flush(now)...)
	slices.SortStableFunc(events, func(a, b Event) int { return a.Time.Compare(b.Time) })
	return events, err
}
