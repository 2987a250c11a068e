package observe

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"wsgilab/internal/broker"
)

// The probe keeps the vhost's connections only (a lister may return every vhost's), sorts them
// by client port, records them in broker.Connection's JSON shape, and passes the lister's
// error on.
func TestBrokerConnectionsProbe(t *testing.T) {
	at := time.UnixMilli(1795693387089).UTC()
	all := []broker.Connection{
		{Name: "127.0.0.1:48450 -> 127.0.0.1:45099", Vhost: "cellB", ClientPort: 48450, Heartbeat: 2, ConnectedAt: at,
			ClientName: "mod_wsgi:10308:uuid-2", ClientProperties: map[string]any{"product": "py-amqp"}},
		{Name: "127.0.0.1:48420 -> 127.0.0.1:45099", Vhost: "cellA", ClientPort: 48420, Heartbeat: 10, ConnectedAt: at},
		{Name: "127.0.0.1:48436 -> 127.0.0.1:45099", Vhost: "cellB", ClientPort: 48436, ConnectedAt: at},
	}
	var calls int
	list := func(context.Context) ([]broker.Connection, error) { calls++; return all, nil }

	v, events, err := NewBrokerConnections("cellB", list).Sample(context.Background(), time.Now())
	if err != nil || len(events) != 0 || calls != 1 {
		t.Fatalf("err %v, events %v, %d calls", err, events, calls)
	}
	r := v.(*BrokerReading)
	if r.Vhost != "cellB" || r.Count != 2 || len(r.Connections) != 2 ||
		r.Connections[0].ClientPort != 48436 || r.Connections[1].ClientPort != 48450 {
		t.Errorf("filtered reading: %+v", r)
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var rec struct {
		Count       int              `json:"count"`
		Connections []map[string]any `json:"connections"`
	}
	if err := json.Unmarshal(b, &rec); err != nil || rec.Count != 2 {
		t.Fatalf("%s: %v", b, err)
	}
	c := rec.Connections[1]
	if c["client_port"] != 48450.0 || c["heartbeat_s"] != 2.0 || c["client_name"] != "mod_wsgi:10308:uuid-2" ||
		c["connected_at"] != "2026-11-26T11:43:07.089Z" || c["ClientProperties"] != nil || c["client_properties"] != nil {
		t.Errorf("recorded connection %s", b)
	}

	// An empty vhost keeps every connection; none is an empty list, not null.
	v, _, _ = NewBrokerConnections("", list).Sample(context.Background(), time.Now())
	if r := v.(*BrokerReading); r.Count != 3 || r.Connections[0].ClientPort != 48420 {
		t.Errorf("unfiltered reading: %+v", r)
	}
	v, _, _ = NewBrokerConnections("cellC", list).Sample(context.Background(), time.Now())
	if b, _ := json.Marshal(v); string(b) != `{"vhost":"cellC","count":0,"connections":[]}` {
		t.Errorf("empty reading %s", b)
	}

	refused := errors.New("management API: 401 unauthorized")
	failing := func(context.Context) ([]broker.Connection, error) { return nil, refused }
	if v, _, err := NewBrokerConnections("cellB", failing).Sample(context.Background(), time.Now()); !errors.Is(err, refused) || v != nil {
		t.Errorf("lister error: %v %v", v, err)
	}
}
