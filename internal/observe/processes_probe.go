package observe

import (
	"context"
	"time"
)

// ProcessInfo is one process of a cell at one sample.
//
// JSON: {"pid": 4242, "role": "child"}; the role is the lister's, e.g. apache.Process's
// "child" (an MPM child) or "wsgi-daemon" (a mod_wsgi daemon process).
type ProcessInfo struct {
	PID  int    `json:"pid"`
	Role string `json:"role"`
}

// ProcessReading is one sample of a cell's processes (Tick.Processes).
//
// JSON: {"processes": [ProcessInfo, ...]} in the lister's order.
type ProcessReading struct {
	Processes []ProcessInfo `json:"processes"`
}

// Processes is the probe of which of a cell's processes are alive, sampled on the Observer's
// clock: the spikes scenario reads process births and deaths (Apache forking and reaping
// children) from consecutive readings.
type Processes struct {
	list func() []ProcessInfo
}

// NewProcesses samples the processes list returns, called on every tick. list should read
// /proc directly (apache.Server.Processes does): an HTTP status probe would take a prefork
// child for itself, and so change what it observes.
func NewProcesses(list func() []ProcessInfo) *Processes { return &Processes{list: list} }

func (p *Processes) Name() string { return "processes" }

// Sample returns a *ProcessReading (never nil: no process is a reading too).
func (p *Processes) Sample(_ context.Context, _ time.Time) (any, []Event, error) {
	procs := p.list()
	if procs == nil {
		procs = []ProcessInfo{}
	}
	return &ProcessReading{Processes: procs}, nil, nil
}

// NewProcessLog tails an Apache error log from its beginning through ProcessRules, under the
// probe name "process_log": mod_wsgi's process and interpreter creation and script loading,
// the MPM's spawning and the fake app's "loaded" line, as events with the PID that wrote them
// (what ReadProcessEvents reads at once, as a probe of an Observer). The whole log is read,
// so that loads before the observer started (preloaded daemons) are in the timeline too.
func NewProcessLog(f LogFile) *LogTail {
	f.Offset = 0
	lt := NewLogTail("process_log", f)
	lt.Rules = ProcessRules
	return lt
}
