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
type Connection struct {
	Name        string // "127.0.0.1:PEER -> 127.0.0.1:AMQP", as in the broker log
	Vhost       string
	User        string
	State       string // running, blocked, closing...
	PeerHost    string
	PeerPort    int           // the client's source port: joins with /proc sockets and the broker log
	Heartbeat   time.Duration // negotiated heartbeat timeout; 0 means heartbeats are off
	ConnectedAt time.Time
	RecvOct     uint64 // bytes received from the client (heartbeat frames included)
	SendOct     uint64
	Channels    int
	// ClientName is client_properties.connection_name. kombu (oslo.messaging) sets it to
	// "<argv0>:<pid>:<uuid>", which is how a connection is traced to an Apache or mod_wsgi
	// process; see ClientPID.
	ClientName       string
	ClientProperties map[string]any
}

// ClientPID is the PID in a kombu connection name ("<argv0>:<pid>:<uuid>"), 0 if there is
// none. argv0 may itself contain colons, so the PID is taken from the right.
func (c Connection) ClientPID() int {
	parts := strings.Split(c.ClientName, ":")
	if len(parts) < 3 {
		return 0
	}
	pid, err := strconv.Atoi(parts[len(parts)-2])
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}

// Connections lists the client connections of vhost ("" for every vhost).
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
		PeerPort:         int(in.PeerPort),
		Heartbeat:        time.Duration(in.Timeout) * time.Second,
		RecvOct:          in.RecvOct,
		SendOct:          in.SendOct,
		Channels:         in.Channels,
		ClientProperties: map[string]any(in.ClientProperties),
	}
	if in.ConnectedAt > 0 {
		c.ConnectedAt = time.UnixMilli(int64(in.ConnectedAt))
	}
	if name, ok := in.ClientProperties["connection_name"].(string); ok {
		c.ClientName = name
	}
	return c
}
