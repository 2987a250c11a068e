package failover

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	rabbithole "github.com/michaelklishin/rabbit-hole/v2"

	"wsgilab/internal/fault"
	"wsgilab/internal/results"
	"wsgilab/internal/runner"
	"wsgilab/internal/runner/runnertest"
	"wsgilab/internal/server"
	"wsgilab/internal/stack"
	"wsgilab/internal/testsupport"
)

// The accounting test runs on the package's shared node; the scenario's cells start their own.
func TestMain(m *testing.M) { os.Exit(testsupport.Main(m)) }

// Counts are exact: a known set of ids goes through a real cell (Apache event MPM, two mod_wsgi
// daemons, the fake service, its conductor, a vhost of a real node) and the accounting against
// the conductor's record says what happened to each. The ten casts of batch B are sent while
// the binding that routes the topic to the conductor's queue is deleted (the service answers
// 2xx: the driver handed them to the broker, which dropped them, as it drops a cast nobody's
// queue is bound for): they are the lost ones. Five ids of batch C are sent twice: they are
// received twice.
func TestAccountingOnRealCell(t *testing.T) {
	dir := testsupport.Dir(t)
	vhost := testsupport.Vhost(t, "failover-accounting")
	received := filepath.Join(dir, ReceivedFile)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	o := stack.Options{Options: server.Options{MPM: "event", Mode: "daemon", Processes: 2, Threads: 1},
		Heartbeat: "pthread", HeartbeatTimeout: 5, MonkeyPatch: true, Env: []string{"WSGILAB_RECEIVED_LOG=" + received}}
	s, err := stack.Start(ctx, filepath.Join(dir, "stack"), vhost, o)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	tr := newTraffic(ctx, s.URL(), 10, 10*time.Second)
	var reqs []Request
	send := func(path string, ids ...int) {
		for _, i := range ids {
			r := tr.do(path, strconv.Itoa(i), time.Now())
			if !r.OK() {
				t.Fatalf("%s?id=%d: %d %s", path, i, r.Status, r.Error)
			}
			reqs = append(reqs, r)
		}
	}
	seq := func(from, n int) []int {
		out := make([]int, n)
		for i := range out {
			out[i] = from + i
		}
		return out
	}

	send(PathCast, seq(0, 10)...)  // A: delivered
	send(PathCall, seq(10, 10)...) // calls: each answered by the conductor, so received
	api := testsupport.SharedBroker(t).Management()
	binding := topicBinding(t, api, vhost.Name, "wsgilab")
	if _, err := api.DeleteBinding(vhost.Name, binding); err != nil {
		t.Fatal(err)
	}
	send(PathCast, seq(20, 10)...) // B: 2xx, routed nowhere
	if _, err := api.DeclareBinding(vhost.Name, binding); err != nil {
		t.Fatal(err)
	}
	send(PathCast, seq(30, 10)...) // C
	send(PathCast, seq(30, 5)...)  // C's first five again

	// The conductor records asynchronously: wait for the 35 deliveries expected (a generous
	// deadline bounds the wait, it times nothing), then a little more for any stray one.
	var got []Delivery
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if got, err = readReceived(received); err != nil {
			t.Fatal(err)
		}
		if len(got) >= 35 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	if got, err = readReceived(received); err != nil {
		t.Fatal(err)
	}
	m := accountMessages(reqs, got, nil)
	t.Logf("%+v", m)
	want := Messages{IDs: 40, Casts: 35, CastsAcked: 35, Received: 30, Lost: 10, Duplicated: 5}
	if m.IDs != want.IDs || m.Casts != want.Casts || m.CastsAcked != want.CastsAcked || m.Received != want.Received ||
		m.Lost != want.Lost || m.Duplicated != want.Duplicated || m.FailedNotReceived != 0 || m.ReceivedUnacked != 0 || m.Unknown != 0 {
		t.Errorf("accounting %+v, want %+v", m, want)
	}
	if m.IDs != m.Received+m.Lost+m.FailedNotReceived {
		t.Errorf("ids %d != received %d + lost %d + failed %d", m.IDs, m.Received, m.Lost, m.FailedNotReceived)
	}
	if !slices.Equal(m.LostIDs, strs(seq(20, 10))) || !slices.Equal(m.DuplicatedIDs, strs(seq(30, 5))) {
		t.Errorf("lost %v (want batch B), duplicated %v (want C's first five)", m.LostIDs, m.DuplicatedIDs)
	}
	// The record itself: one line per delivery, the calls as "echo" from the process that
	// answered them.
	if len(got) != 35 {
		t.Errorf("%d deliveries recorded, want 30 ids + 5 repeats", len(got))
	}
	// A repeated id was sent by whichever process served each copy.
	pids := map[string][]int{}
	for _, r := range reqs {
		pids[r.ID] = append(pids[r.ID], r.PID)
	}
	for _, d := range got {
		id, _ := strconv.Atoi(d.ID)
		wantMethod := "record"
		if id >= 10 && id < 20 {
			wantMethod = "echo"
		}
		if d.Method != wantMethod || !slices.Contains(pids[d.ID], d.PID) || d.Time().IsZero() {
			t.Errorf("delivery %+v: want method %s from one of pids %v", d, wantMethod, pids[d.ID])
		}
	}
}

// topicBinding is the binding that routes the RPC topic to the conductor's shared queue.
func topicBinding(t *testing.T, api *rabbithole.Client, vhost, topic string) rabbithole.BindingInfo {
	t.Helper()
	bs, err := api.ListBindingsIn(vhost)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bs {
		if b.DestinationType == "queue" && b.Destination == topic && b.RoutingKey == topic && b.Source != "" {
			return b
		}
	}
	t.Fatalf("no binding routes %q in %s: %+v", topic, vhost, bs)
	return rabbithole.BindingInfo{}
}

func strs(xs []int) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = strconv.Itoa(x)
	}
	return out
}

// wsgilabRules lists the firewall rules a fault left (fault.Rules); a machine that cannot tell fails the test.
func wsgilabRules(t *testing.T) []string {
	t.Helper()
	rules, err := fault.Rules()
	if err != nil {
		t.Fatal(err)
	}
	return rules
}

// Short faults on the real stack, each cell on its own node, side by side: what each fault
// does to the service is what the package says (a reset and a restart are noticed at once, a
// hang shorter than the RPC timeout with heartbeats off is not noticed at all and costs
// nothing), the counts add up against the conductor's record, every cell recovers, and no
// rule, process or directory is left behind.
func TestFailoverOnRealStack(t *testing.T) {
	if left := wsgilabRules(t); len(left) > 0 {
		t.Fatalf("fault rules before the run: %v", left)
	}
	work := testsupport.Dir(t)
	plan := DefaultPlan()
	// After is the most a cell waits for recovery; a cell ends 5 s after it recovered, so a long
	// one costs nothing here, and under load (the suite beside two busy loops: start_app took
	// 10 s, latency settled after more than 10 s) a restart still recovers within it.
	plan.FaultDuration, plan.Before, plan.After, plan.Parallel = 3*time.Second, 3*time.Second, 30*time.Second, 4
	spec := func(hb, f string) CellSpec {
		return CellSpec{CellSpec: runner.CellSpec{MPM: "event", Mode: "daemon", Heartbeat: hb, MonkeyPatch: true}, Fault: f}
	}
	plan.Specs = []CellSpec{spec("green", fault.Restart), spec("off", fault.Hang), spec("pthread", fault.Blackhole), spec("pthread", fault.Reset)}
	out := t.TempDir()
	outcome := runnertest.Run(t, Scenario{}.Name(), &plan, runner.Options{OutDir: out, WorkDir: work})
	if left := wsgilabRules(t); len(left) > 0 {
		t.Errorf("fault rules left after the run: %v", left)
	}
	for _, r := range outcome.Cells {
		c := r.(*CellResult)
		f := c.Findings
		t.Logf("%s: %s — %s (%.1fs: node %.1fs)", c.ID, c.Verdict.Kind, c.Verdict.Reason, c.Elapsed, c.Broker.StartupMs/1000)
		if c.Verdict.Kind != Recovered && c.Verdict.Kind != Degraded {
			t.Errorf("%s: %s, want the service recovered: %v", c.ID, c.Verdict.Kind, c.Notes)
			continue
		}
		// Each cell had a node of its own, and it is gone.
		if c.Broker.Node == "" || c.Broker.AMQPPort == 0 || c.Broker.RSSMB <= 0 {
			t.Errorf("%s: broker %+v", c.ID, c.Broker)
		}
		// Exact counts: every id the client sent is received, lost or failed, and the
		// deliveries are the conductor's record.
		m := f.Messages
		if m.IDs != f.Requests.Sent || m.IDs != m.Received+m.Lost+m.FailedNotReceived || m.Unknown != 0 {
			t.Errorf("%s: %d requests, %+v", c.ID, f.Requests.Sent, m)
		}
		ids := map[string]int{}
		for _, d := range c.Received {
			ids[d.ID]++
		}
		if len(ids) != m.Received {
			t.Errorf("%s: the record has %d ids, the accounting %d", c.ID, len(ids), m.Received)
		}
		if f.Requests.Sent != f.Requests.OK+f.Requests.Errors+f.Requests.TimedOut {
			t.Errorf("%s: requests %+v do not add up", c.ID, f.Requests)
		}
		w := c.Fault
		switch c.Spec.Fault {
		case fault.Reset, fault.Restart:
			// The broker's side ends the connections: the service notices at once.
			if f.Detect.Detected == 0 || *f.Detect.FirstS > 1 {
				t.Errorf("%s: detection %+v, want within a second", c.ID, f.Detect)
			}
			if c.Spec.Fault == fault.Reset && w.Duration() != 0 {
				t.Errorf("%s: a reset lasted %v", c.ID, w.Duration())
			}
		case fault.Hang:
			// Shorter than the RPC timeout, without heartbeats: TCP never broke, nothing
			// timed out, the connections carried on once the broker resumed.
			if f.Detect.Detected != 0 || f.Churn.Reconnects != 0 || m.Lost != 0 || f.Requests.Errors+f.Requests.TimedOut != 0 {
				t.Errorf("%s: detect %+v churn %+v lost %d requests %+v: want a hang nobody noticed", c.ID, f.Detect, f.Churn, m.Lost, f.Requests)
			}
			if w.Duration() < plan.FaultDuration {
				t.Errorf("%s: fault window %v", c.ID, w.Duration())
			}
		}
		if len(c.Requests) == 0 || len(c.Timeline.Ticks) == 0 {
			t.Errorf("%s: %d requests, %d ticks recorded", c.ID, len(c.Requests), len(c.Timeline.Ticks))
		}
	}
	// run.json has no bulk; the table printed from it names every cell.
	run, err := results.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	cells, err := results.Decode[CellResult](run, nil)
	if err != nil || len(cells) != 4 || len(cells[0].Requests) != 0 || len(cells[0].Timeline.Ticks) != 0 {
		t.Fatalf("run.json: %v, %d cells", err, len(cells))
	}
	var text strings.Builder
	if err := (Scenario{}).WriteText(&text, run); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + text.String())
	for _, c := range cells {
		if !strings.Contains(text.String(), fmt.Sprintf("%s: %s — ", c.ID, c.Verdict.Kind)) {
			t.Errorf("the report lacks %s's verdict", c.ID)
		}
	}
	testsupport.AssertNothingLeft(t, work)
}
