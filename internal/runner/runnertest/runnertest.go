// Package runnertest runs scenarios in tests as `wsgilab run` does, on the broker that
// testsupport.Main shares with the package's tests.
package runnertest

import (
	"context"
	"testing"
	"time"

	"wsgilab/internal/runner"
	"wsgilab/internal/testsupport"
)

// Run runs plan as `wsgilab run` does, on the broker Main shared (o.Broker), with its
// run directory made in o.WorkDir and its progress in the test log, and fails the test when the
// run as a whole fails. A real-stack run of a few cells takes well under scenarioTimeout.
func Run(t testing.TB, name string, plan runner.Plan, o runner.Options) *runner.Outcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), scenarioTimeout)
	defer cancel()
	o.Broker, o.Progress = testsupport.SharedBroker(t), testsupport.Progress(t)
	began := time.Now()
	out, err := runner.Run(ctx, name, plan, o)
	if err != nil {
		t.Fatalf("run %s: %v", name, err)
	}
	t.Logf("run %s took %.1fs", name, time.Since(began).Seconds())
	return out
}

const scenarioTimeout = 4 * time.Minute
