package observe

import (
	"context"
	"sort"
	"time"

	"wsgilab/internal/broker"
)

// BrokerReading is one sample of the vhost's connections.
//
// JSON: {"vhost": "cell-3", "count": 2, "connections": [broker.Connection, ...]} (sorted by
// client_port; see broker.Connection for a connection's fields)
type BrokerReading struct {
	Vhost       string              `json:"vhost"`
	Count       int                 `json:"count"`
	Connections []broker.Connection `json:"connections"`
}

// ConnectionLister returns the connections of one vhost (a lister may return every vhost's;
// the probe filters): (*broker.Broker).Connections with the vhost bound, as in
//
//	func(ctx context.Context) ([]broker.Connection, error) { return b.Connections(ctx, vhost) }
type ConnectionLister func(ctx context.Context) ([]broker.Connection, error)

// BrokerConnections is the probe of the vhost's connections in the management API.
type BrokerConnections struct {
	vhost string
	list  ConnectionLister
}

// NewBrokerConnections samples list, keeping only the connections of vhost (a lister may
// return every vhost's).
func NewBrokerConnections(vhost string, list ConnectionLister) *BrokerConnections {
	return &BrokerConnections{vhost: vhost, list: list}
}

func (b *BrokerConnections) Name() string { return "broker_connections" }

func (b *BrokerConnections) Sample(ctx context.Context, _ time.Time) (any, []Event, error) {
	conns, err := b.list(ctx)
	if err != nil {
		return nil, nil, err
	}
	r := &BrokerReading{Vhost: b.vhost, Connections: []broker.Connection{}}
	for _, c := range conns {
		if b.vhost == "" || c.Vhost == b.vhost {
			r.Connections = append(r.Connections, c)
		}
	}
	sort.Slice(r.Connections, func(i, j int) bool { return r.Connections[i].ClientPort < r.Connections[j].ClientPort })
	r.Count = len(r.Connections)
	return r, nil, nil
}
