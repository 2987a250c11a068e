package observe

import (
	"context"
	"slices"
	"time"
)

// ReadProcessEvents reads a whole server log through ProcessRules (mod_wsgi's process and
// interpreter creation and script loading, prefork's spawning, gunicorn's and uWSGI's worker
// births, the fake app's "loaded" line) and returns the events in time order.
func ReadProcessEvents(f LogFile) ([]Event, error) { return ReadEvents(f, ProcessRules) }

// ReadEvents reads a whole log file through rules and returns the events in time order.
func ReadEvents(f LogFile, rules []Rule) ([]Event, error) {
	f.Offset = 0
	lt := NewLogTail("read", f)
	lt.Rules = rules
	defer lt.Close()
	now := time.Now()
	_, events, err := lt.Sample(context.Background(), now)
	events = append(events, lt.Flush(now)...)
	slices.SortStableFunc(events, func(a, b Event) int { return a.Time.Compare(b.Time) })
	return events, err
}
