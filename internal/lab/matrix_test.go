package lab

import "testing"

func TestDefaultMatrixHasTwelveCellsInOrder(t *testing.T) {
	m := Matrix{MPMs: MPMs, Modes: Modes, Heartbeats: []string{"green", "pthread"}}
	cells := m.Cells()
	if len(cells) != 12 {
		t.Fatalf("got %d cells, want 12", len(cells))
	}
	if cells[0].ID != "prefork-embedded-green" || cells[11].ID != "event-daemon-pthread" {
		t.Fatalf("order: first %s last %s", cells[0].ID, cells[11].ID)
	}
	seen := map[string]bool{}
	for _, c := range cells {
		if seen[c.ID] {
			t.Fatalf("duplicate cell %s", c.ID)
		}
		seen[c.ID] = true
		if !c.MonkeyPatch || c.Control != "" {
			t.Fatalf("matrix cell %s should be monkey-patched and not a control", c.ID)
		}
	}
}

func TestControlsAreAppended(t *testing.T) {
	cells := Matrix{MPMs: []string{"event"}, Modes: []string{"daemon"}, Heartbeats: []string{"green"}, Controls: true}.Cells()
	if len(cells) != 3 {
		t.Fatalf("got %d cells", len(cells))
	}
	if cells[1].ID != "event-daemon-green-nopatch" || cells[1].MonkeyPatch {
		t.Fatalf("no-patch control: %+v", cells[1])
	}
	if cells[2].ID != "event-daemon-off-keepalive" || !cells[2].TCPKeepalive || cells[2].Heartbeat != "off" {
		t.Fatalf("keepalive control: %+v", cells[2])
	}
}

func TestParseList(t *testing.T) {
	got, err := ParseList("mpm", " Event,prefork,event ", MPMs)
	if err != nil || len(got) != 2 || got[0] != "event" || got[1] != "prefork" {
		t.Fatalf("got %v, %v", got, err)
	}
	if _, err := ParseList("mpm", "prefork,threaded", MPMs); err == nil {
		t.Fatal("unknown value accepted")
	}
	if _, err := ParseList("mode", ",", Modes); err == nil {
		t.Fatal("empty list accepted")
	}
}
