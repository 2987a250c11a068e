package runner

import (
	"context"
	"fmt"

	"wsgilab/internal/broker"
)

// CellBrokers is implemented by a plan whose cells each run on a private broker node of their
// own (PrivateBroker), because a cell breaks its broker and must not break another cell's: the
// run then starts no shared node, and an existing broker (--broker) cannot be used. A node per
// cell costs its start (6-11 s on a 2-core machine, in the cell's time) and ~100 MB while the
// cell runs.
type CellBrokers interface {
	CellBrokers() bool
}

func cellBrokers(p Plan) bool {
	cb, ok := p.(CellBrokers)
	return ok && cb.CellBrokers()
}

// PrivateBroker starts a private RabbitMQ node for one cell, its files under dir (the cell's
// directory), and returns an Env like e whose Broker is that node: its StartStack makes the
// cell's vhost there. The caller stops the node (Broker.Stop) when the cell is done; wsgilab
// killed outright takes it along (its process group is registered with the guard).
func (e *Env) PrivateBroker(ctx context.Context, dir string) (*Env, error) {
	b, err := broker.StartPrivate(ctx, dir)
	if err != nil {
		return nil, fmt.Errorf("the cell's private broker: %w", err)
	}
	cell := &Env{Broker: b, RunID: e.RunID, Dir: e.Dir}
	if e.progress != nil {
		cell.progress = progressVia{e}
	}
	return cell, nil
}

// progressVia writes a cell's Env's progress lines through the run's Env, under its lock, so
// that lines of cells running at once do not interleave.
type progressVia struct{ e *Env }

func (p progressVia) Write(b []byte) (int, error) {
	p.e.mu.Lock()
	defer p.e.mu.Unlock()
	return p.e.progress.Write(b)
}
