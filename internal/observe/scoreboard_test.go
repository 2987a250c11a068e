package observe

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"
)

// testdata/status-*.txt are real ?auto pages of Apache 2.4.71 (Debian 12) with each MPM at its
// defaults, mod_wsgi loaded, right after two requests.
func TestParseScoreboardFixtures(t *testing.T) {
	cases := []struct {
		mpm             string
		slotsPerProcess int
		busy, idle      int
		processes       int
		from            string
		waiting         int
	}{
		// prefork: no Processes line; one slot per process: "__W__" is five children.
		{"prefork", 0, 1, 4, 5, "scoreboard", 4},
		// worker: 25 threads per child; without knowing that, the count is left unknown.
		{"worker", 25, 1, 74, 3, "scoreboard", 74},
		{"worker", 0, 1, 74, 0, "", 74},
		// event reports its processes.
		{"event", 0, 1, 74, 3, "mod_status", 74},
	}
	for _, c := range cases {
		f, err := os.Open("testdata/status-" + c.mpm + ".txt")
		if err != nil {
			t.Fatal(err)
		}
		sb, err := ParseScoreboard(f, c.slotsPerProcess)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", c.mpm, err)
		}
		if sb.MPM != c.mpm || sb.BusyWorkers != c.busy || sb.IdleWorkers != c.idle || sb.Processes != c.processes ||
			sb.ProcessesFrom != c.from || sb.Slots["waiting"] != c.waiting || sb.Slots["sending"] != 1 {
			t.Errorf("%s (slots/process %d): %+v", c.mpm, c.slotsPerProcess, sb)
		}
		if sb.TotalAccesses != 2 || sb.UptimeSeconds != 2 {
			t.Errorf("%s: accesses %d uptime %d", c.mpm, sb.TotalAccesses, sb.UptimeSeconds)
		}
		if n := sb.Slots["open"] + sb.Slots["waiting"] + sb.Slots["sending"]; n != len(sb.Board) {
			t.Errorf("%s: slots %v do not add up to %d", c.mpm, sb.Slots, len(sb.Board))
		}
	}
}

func TestParseScoreboardWithoutBoard(t *testing.T) {
	if _, err := ParseScoreboard(strings.NewReader("127.0.0.1\nTotal Accesses: 2\n"), 0); err == nil {
		t.Fatal("no error for a page without a scoreboard")
	}
}

func TestScoreboardProbe(t *testing.T) {
	page, err := os.ReadFile("testdata/status-event.txt")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/server-status" || r.URL.RawQuery != "auto" {
			http.NotFound(w, r)
			return
		}
		w.Write(page)
	}))
	defer srv.Close()
	v, _, err := NewScoreboard(srv.URL+"/server-status?auto").Sample(context.Background(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if sb := v.(*Scoreboard); sb.Processes != 3 || sb.MPM != "event" {
		t.Errorf("%+v", sb)
	}
	if _, _, err := NewScoreboard(srv.URL+"/nothing").Sample(context.Background(), time.Now()); err == nil ||
		!strings.Contains(err.Error(), "404") {
		t.Errorf("error for a 404: %v", err)
	}
}
