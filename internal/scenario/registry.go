// Package scenario is the registry of wsgilab's scenarios: `wsgilab run NAME` looks NAME up
// here, `wsgilab run --help` lists them, and `wsgilab merge` finds the one that prints a
// recorded run. Each scenario is one package below this one (plan, cell runner, analysis,
// verdict, JSON types, text report, tests); adding one is that package and one line in list.
package scenario

import (
	"slices"

	"wsgilab/internal/runner"
	"wsgilab/internal/scenario/failover"
	"wsgilab/internal/scenario/heartbeat"
	"wsgilab/internal/scenario/spikes"
	"wsgilab/internal/scenario/throughput"
)

// list is every scenario, the default first, in the order `wsgilab run --help` prints them.
var list = []runner.Scenario{
	heartbeat.Scenario{},
	spikes.Scenario{},
	throughput.Scenario{},
	failover.Scenario{},
}

// Default is the scenario `wsgilab run` runs when none is named.
func Default() runner.Scenario { return list[0] }

// Lookup finds a scenario by name.
func Lookup(name string) (runner.Scenario, bool) {
	i := slices.IndexFunc(list, func(s runner.Scenario) bool { return s.Name() == name })
	if i < 0 {
		return nil, false
	}
	return list[i], true
}

// All lists every scenario, the default first.
func All() []runner.Scenario { return slices.Clone(list) }

// Names lists the scenarios' names, the default first.
func Names() []string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = s.Name()
	}
	return out
}
