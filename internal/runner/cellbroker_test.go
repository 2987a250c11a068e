package runner

import (
	"context"
	"strings"
	"testing"

	"wsgilab/internal/broker"
)

// ownBrokersPlan's cells bring their own nodes; Run notes the Env it was given.
type ownBrokersPlan struct {
	fakePlan
	got **Env
}

func (ownBrokersPlan) CellBrokers() bool { return true }
func (p ownBrokersPlan) Run(_ context.Context, env *Env, _ []Cell, _ []CellResult) {
	*p.got = env
}

// A plan whose cells start their own nodes gets no shared one (nothing to start, nothing to
// stop), refuses an existing broker before anything starts, and its run says the nodes were
// private.
func TestCellBrokers(t *testing.T) {
	var got *Env
	plan := ownBrokersPlan{fakePlan{[]Cell{{ID: "a", Stack: okStack()}}}, &got}
	_, err := Check(plan, Options{BrokerURL: "amqp://u:p@127.0.0.1:5672/", ManagementURL: "http://u:p@127.0.0.1:15672/"})
	if err == nil || !strings.Contains(err.Error(), "private broker node of their own") {
		t.Errorf("an existing broker with cells that break theirs: %v", err)
	}
	out, err := Run(context.Background(), "fake", plan, Options{WorkDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if got == nil || got.Broker != nil {
		t.Fatalf("the plan ran with %+v, want an Env without a shared broker", got)
	}
	if !out.Run.Broker.Private || out.Run.Broker.AMQPPort != 0 {
		t.Errorf("run.json's broker %+v, want private with no port of its own", out.Run.Broker)
	}
	// A caller's broker (the tests' shared node) is handed over as it is, and not recorded.
	b := &broker.Broker{AMQPPort: 1234}
	if out, err = Run(context.Background(), "fake", plan, Options{WorkDir: t.TempDir(), Broker: b}); err != nil {
		t.Fatal(err)
	}
	if got.Broker != b || out.Run.Broker.AMQPPort != 0 {
		t.Errorf("with a caller's broker: env broker %p (want %p), recorded %+v", got.Broker, b, out.Run.Broker)
	}
}
