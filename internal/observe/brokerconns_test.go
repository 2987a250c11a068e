package observe

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	rabbithole "github.com/michaelklishin/rabbit-hole/v2"
)

// testdata/management-connections.json is GET /api/connections of a real 3.10.8 node: a py-amqp
// connection in cellA with a 10 s heartbeat and a client-provided name, one in cellB with
// heartbeats off.
func TestFromConnectionInfoFixture(t *testing.T) {
	b, err := os.ReadFile("testdata/management-connections.json")
	if err != nil {
		t.Fatal(err)
	}
	var infos []rabbithole.ConnectionInfo
	if err := json.Unmarshal(b, &infos); err != nil {
		t.Fatal(err)
	}
	if len(infos) != 2 {
		t.Fatalf("%d connections", len(infos))
	}
	a := FromConnectionInfo(infos[0])
	want := BrokerConnection{
		Name: "127.0.0.1:48420 -> 127.0.0.1:45099", ClientName: "mod_wsgi:10307:8dbed295-9b98-45eb-8d65-9f7594de469a",
		Vhost: "cellA", User: "guest", ClientPort: 48420, State: "running", Heartbeat: 10,
		ConnectedAt: time.UnixMilli(1795693387089).UTC(), RecvOct: 331, SendOct: 537,
	}
	if a != want {
		t.Errorf("\n got %+v\nwant %+v", a, want)
	}
	if c := FromConnectionInfo(infos[1]); c.Heartbeat != 0 || c.ClientName != "" || c.Vhost != "cellB" || c.ClientPort != 48436 {
		t.Errorf("second: %+v", c)
	}
	if a.Key() == FromConnectionInfo(infos[1]).Key() {
		t.Error("two connections share a key")
	}
}

// The probe keeps the vhost's connections only (a lister may return every vhost's) and sorts
// them; ManagementConnections asks the vhost's own endpoint.
func TestBrokerConnectionsProbe(t *testing.T) {
	all, err := os.ReadFile("testdata/management-connections.json")
	if err != nil {
		t.Fatal(err)
	}
	var infos []rabbithole.ConnectionInfo
	json.Unmarshal(all, &infos)
	var asked []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked = append(asked, r.URL.Path)
		if u, p, _ := r.BasicAuth(); u != "guest" || p != "pw" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		switch r.URL.Path {
		case "/api/connections":
			w.Write(all)
		case "/api/vhosts/cellB/connections":
			json.NewEncoder(w).Encode(infos[1:])
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()

	list, err := ManagementConnections(srv.URL, "guest", "pw", "")
	if err != nil {
		t.Fatal(err)
	}
	v, _, err := NewBrokerConnections("cellB", list).Sample(context.Background(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	r := v.(*BrokerReading)
	if r.Count != 1 || r.Connections[0].ClientPort != 48436 || r.Vhost != "cellB" {
		t.Errorf("filtered reading: %+v", r)
	}

	list, _ = ManagementConnections(srv.URL, "guest", "pw", "cellB")
	conns, err := list(context.Background())
	if err != nil || len(conns) != 1 || conns[0].Vhost != "cellB" {
		t.Errorf("vhost lister: %+v %v", conns, err)
	}
	if asked[len(asked)-1] != "/api/vhosts/cellB/connections" {
		t.Errorf("asked %v", asked)
	}

	list, _ = ManagementConnections(srv.URL, "guest", "wrong", "cellB")
	if _, _, err := NewBrokerConnections("cellB", list).Sample(context.Background(), time.Now()); err == nil {
		t.Error("no error for a refused login")
	}
}
