package broker

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	rabbithole "github.com/michaelklishin/rabbit-hole/v2"
)

// Connection is one client connection as the management API sees it. A new connection and
// its byte counts reach the API on the management agent's next sample: ~1 s on a private
// node (see config.go), 5 s by default on an existing broker. A closed connection leaves the
// API at once. The sockets in /proc are immediate.
//
// It is also the record the observe package's broker_connections probe writes to a timeline,
// so its JSON names are a recorded format:
//
//	{"name": "127.0.0.1:35534 -> 127.0.0.1:45099",   the broker's name: client address -> listener
//	 "client_name": "mod_wsgi:4242:e2310d0f-...",    client-provided connection_name (kombu: argv0:pid:uuid)
//	 "vhost": "cell-3", "user": "guest",
//	 "client_port": 35534,                           the client's port: identifies the connection across probes
//	 "state": "running",
//	 "heartbeat_s": 2,                               negotiated heartbeat timeout; 0 = heartbeats off
//	 "connected_at": "2026-11-26T11:43:47.104Z",
//	 "recv_oct": 331, "send_oct": 537,               bytes the broker received / sent (1 s statistics)
//	 "channels": 1,
//	 "peer_host": "127.0.0.1"}
type Connection struct {
	Name string `json:"name"` // "127.0.0.1:PEER -> 127.0.0.1:AMQP", as in the broker log
	// ClientName is client_properties.connection_name. kombu (oslo.messaging) sets it to
	// "<argv0>:<pid>:<uuid>", which is how a connection is traced to an Apache or mod_wsgi
	// process; see ClientPID.
	ClientName string `json:"client_name,omitempty"`
	Vhost      string `json:"vhost"`
	User       string `json:"user,omitempty"`
	// ClientPort is the client's source port: it joins with /proc sockets and the broker log.
	ClientPort  int       `json:"client_port"`
	State       string    `json:"state,omitempty"` // running, blocked, closing...
	Heartbeat   int       `json:"heartbeat_s"`     // negotiated heartbeat timeout in seconds; 0 means heartbeats are off
	ConnectedAt time.Time `json:"connected_at"`    // UTC
	RecvOct     uint64    `json:"recv_oct"`        // bytes received from the client (heartbeat frames included)
	SendOct     uint64    `json:"send_oct"`
	Channels    int       `json:"channels"`
	PeerHost    string    `json:"peer_host,omitempty"`
	// ClientProperties are the client's AMQP client_properties as the API returns them. They
	// are left out of the recorded JSON, whose shape is fixed; ClientName is the part of them
	// the analysis reads.
	ClientProperties map[string]any `json:"-"`
}

// Key identifies one connection for its whole life: a replacement connection has another
// client port, and a reused port another connected_at.
func (c Connection) Key() string {
	return fmt.Sprintf("%d@%d", c.ClientPort, c.ConnectedAt.UnixMilli())
}

// ClientPID is the PID in the connection's kombu name (see KombuPID), 0 if there is none.
func (c Connection) ClientPID() int { return KombuPID(c.ClientName) }

// KombuPID is the PID in a kombu connection name ("<argv0>:<pid>:<uuid>", as oslo.messaging
// names its connections), 0 if there is none. argv0 may itself contain colons, so the PID is
// taken from the right.
func KombuPID(name string) int {
	parts := strings.Split(name, ":")
	if len(parts) < 3 {
		return 0
	}
	pid, err := strconv.Atoi(parts[len(parts)-2])
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}

// Connections lists the client connections of vhost ("" for every vhost). With the vhost
// bound, func(ctx) { return b.Connections(ctx, vhost) }, it is an observe.ConnectionLister.
func (b *Broker) Connections(ctx context.Context, vhost string) ([]Connection, error) {
	api := b.api(ctx)
	var infos []rabbithole.ConnectionInfo
	var err error
	if vhost == "" {
		infos, err = api.ListConnections()
	} else {
		infos, err = api.ListVhostConnections(vhost)
	}
	if err != nil {
		return nil, fmt.Errorf("listing connections of vhost %q: %w", vhost, err)
	}
	out := make([]Connection, 0, len(infos))
	for _, in := range infos {
		out = append(out, connectionFromInfo(in))
	}
	return out, nil
}

func connectionFromInfo(in rabbithole.ConnectionInfo) Connection {
	c := Connection{
		Name:             in.Name,
		Vhost:            in.Vhost,
		User:             in.User,
		State:            in.State,
		PeerHost:         in.PeerHost,
		ClientPort:       int(in.PeerPort),
		Heartbeat:        in.Timeout,
		RecvOct:          in.RecvOct,
		SendOct:          in.SendOct,
		Channels:         in.Channels,
		ClientProperties: map[string]any(in.ClientProperties),
	}
	if in.ConnectedAt > 0 {
		c.ConnectedAt = time.UnixMilli(int64(in.ConnectedAt)).UTC()
	}
	if name, ok := in.ClientProperties["connection_name"].(string); ok {
		c.ClientName = name
	}
	return c
}
