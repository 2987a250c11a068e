package observe

import (
	"context"
	"fmt"
	"sort"
	"time"

	rabbithole "github.com/michaelklishin/rabbit-hole/v2"
)

// BrokerConnection is one AMQP connection as the broker's management API lists it.
//
// JSON:
//
//	{"name": "127.0.0.1:35534 -> 127.0.0.1:45099",   the broker's name: client address -> listener
//	 "client_name": "mod_wsgi:4242:e2310d0f-...",    client-provided connection_name (kombu: argv0:pid:uuid)
//	 "vhost": "cell-3", "user": "guest",
//	 "client_port": 35534,                           the client's port: identifies the connection across probes
//	 "state": "running",
//	 "heartbeat_s": 2,                               negotiated heartbeat timeout; 0 = heartbeats off
//	 "connected_at": "2026-11-26T11:43:47.104Z",
//	 "recv_oct": 331, "send_oct": 537,               bytes the broker received / sent (1 s statistics)
//	 "channels": 1}
type BrokerConnection struct {
	Name        string    `json:"name"`
	ClientName  string    `json:"client_name,omitempty"`
	Vhost       string    `json:"vhost"`
	User        string    `json:"user,omitempty"`
	ClientPort  int       `json:"client_port"`
	State       string    `json:"state,omitempty"`
	Heartbeat   int       `json:"heartbeat_s"`
	ConnectedAt time.Time `json:"connected_at"`
	RecvOct     uint64    `json:"recv_oct"`
	SendOct     uint64    `json:"send_oct"`
	Channels    int       `json:"channels"`
}

// Key identifies one connection for its whole life: a replacement connection has another
// client port, and a reused port another connected_at.
func (c BrokerConnection) Key() string {
	return fmt.Sprintf("%d@%d", c.ClientPort, c.ConnectedAt.UnixMilli())
}

// BrokerReading is one sample of the vhost's connections.
//
// JSON: {"vhost": "cell-3", "count": 2, "connections": [BrokerConnection, ...]} (sorted by client_port)
type BrokerReading struct {
	Vhost       string             `json:"vhost"`
	Count       int                `json:"count"`
	Connections []BrokerConnection `json:"connections"`
}

// ConnectionLister returns the connections of one vhost. The broker package's
// (*Broker).Connections(ctx, vhost) fits after mapping its type; ManagementConnections calls the
// management API itself.
type ConnectionLister func(ctx context.Context) ([]BrokerConnection, error)

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
	r := &BrokerReading{Vhost: b.vhost, Connections: []BrokerConnection{}}
	for _, c := range conns {
		if b.vhost == "" || c.Vhost == b.vhost {
			r.Connections = append(r.Connections, c)
		}
	}
	sort.Slice(r.Connections, func(i, j int) bool { return r.Connections[i].ClientPort < r.Connections[j].ClientPort })
	r.Count = len(r.Connections)
	return r, nil, nil
}

// ManagementConnections lists vhost's connections through the management API at url
// ("http://127.0.0.1:15672"). rabbit-hole takes no context, so the call runs with the client's
// own timeout and ctx only stops the wait for it.
func ManagementConnections(url, user, password, vhost string) (ConnectionLister, error) {
	c, err := rabbithole.NewClient(url, user, password)
	if err != nil {
		return nil, err
	}
	c.SetTimeout(2 * time.Second)
	return func(ctx context.Context) ([]BrokerConnection, error) {
		type res struct {
			infos []rabbithole.ConnectionInfo
			err   error
		}
		ch := make(chan res, 1)
		go func() {
			var infos []rabbithole.ConnectionInfo
			var err error
			if vhost == "" {
				infos, err = c.ListConnections()
			} else {
				infos, err = c.ListVhostConnections(vhost)
			}
			ch <- res{infos, err}
		}()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case r := <-ch:
			if r.err != nil {
				return nil, fmt.Errorf("management API connections: %w", r.err)
			}
			out := make([]BrokerConnection, 0, len(r.infos))
			for _, ci := range r.infos {
				out = append(out, FromConnectionInfo(ci))
			}
			return out, nil
		}
	}, nil
}

// FromConnectionInfo maps rabbit-hole's record to a BrokerConnection.
func FromConnectionInfo(ci rabbithole.ConnectionInfo) BrokerConnection {
	c := BrokerConnection{
		Name:       ci.Name,
		Vhost:      ci.Vhost,
		User:       ci.User,
		ClientPort: int(ci.PeerPort),
		State:      ci.State,
		Heartbeat:  ci.Timeout,
		RecvOct:    ci.RecvOct,
		SendOct:    ci.SendOct,
		Channels:   ci.Channels,
	}
	if ci.ConnectedAt > 0 {
		c.ConnectedAt = time.UnixMilli(int64(ci.ConnectedAt)).UTC()
	}
	if n, ok := ci.ClientProperties["connection_name"].(string); ok {
		c.ClientName = n
	}
	return c
}
