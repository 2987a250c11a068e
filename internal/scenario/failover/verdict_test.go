package failover

import (
	"compress/gzip"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"wsgilab/internal/observe"
)

// loadCell reads a recorded cell (testdata/cells/NAME.json.gz: a cell file as 'wsgilab run
// failover --out' wrote it, gzipped; testdata/cells/README.md says which run).
func loadCell(t *testing.T, name string) CellResult {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "cells", name+".json.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var c CellResult
	if err := json.NewDecoder(zr).Decode(&c); err != nil {
		t.Fatal(err)
	}
	return c
}

func observationsOf(c CellResult) Observations {
	return Observations{Requests: c.Requests, Received: c.Received, Fault: c.Fault, Timeline: c.Timeline, Vhost: c.Vhost}
}

func hasRule(evidence []observe.Event, rule string) bool {
	return slices.ContainsFunc(evidence, func(e observe.Event) bool { return e.Rule == rule })
}

// Recorded cells of the real stack, judged again: what each fault did to the service, as the
// package says it does, and the verdict that follows.
func TestVerdictOnRecordedCells(t *testing.T) {
	for _, tc := range []struct {
		name  string
		kind  string
		check func(t *testing.T, v Verdict)
	}{
		{"green-hang", Degraded, func(t *testing.T, v Verdict) {
			// TCP stays up: nothing notices before a timeout (the socket's, 5 s, then two
			// missed heartbeats); every connection does notice, reconnects, and a message
			// is redelivered after it.
			if d := v.Detect; d.Detected != d.Connections || *d.FirstS < 4.5 {
				t.Errorf("detection %+v: want every connection, none before the 5 s timeout", d)
			}
			if v.Messages.Duplicated+v.Messages.DriverDuplicates == 0 || v.Messages.Lost != 0 || v.Churn.Reconnects == 0 {
				t.Errorf("messages %+v churn %+v", v.Messages, v.Churn)
			}
			if !hasRule(v.Evidence, ruleDuplicateMessage) || !strings.Contains(v.Reason, "delivered twice") {
				t.Errorf("the driver's duplicate line is not the evidence of %q", v.Reason)
			}
		}},
		{"off-hang", Degraded, func(t *testing.T, v Verdict) {
			// Without heartbeats only the connection a request was blocked on times out (the
			// call's 5 s): the others carry on once the broker resumes.
			if d := v.Detect; d.Detected != 1 || d.Connections < 3 || v.Churn.Reconnects != 1 {
				t.Errorf("detection %+v, churn %+v: want one connection noticed and replaced", d, v.Churn)
			}
		}},
		{"green-blackhole", Degraded, func(t *testing.T, v Verdict) {
			if v.Requests.MessagingTimeouts != 1 || !hasRule(v.Evidence, ruleMessagingTimeout) {
				t.Errorf("requests %+v: want the call caught by the partition, with its line", v.Requests)
			}
			if !hasRule(v.Evidence, "missed_heartbeats") {
				t.Error("the broker's missed-heartbeats close is not in the evidence")
			}
		}},
		{"pthread-restart", Recovered, func(t *testing.T, v Verdict) {
			// The node closes every connection: noticed at once; its API is down meanwhile.
			if d := v.Detect; d.Detected != d.Connections || d.Detected == 0 || *d.LastS > 1 {
				t.Errorf("detection %+v: want every connection at once", d)
			}
			if v.Churn.BrokerMin != -1 || v.Evidence[0].Rule != "broker_connection_error" ||
				!strings.Contains(v.Evidence[0].Line, "connection_forced") {
				t.Errorf("churn %+v, first evidence %+v", v.Churn, v.Evidence[0])
			}
			if !v.FaultStart.Before(v.Evidence[1].Time) {
				t.Errorf("the fault starts at %v, after the client's first line %v", v.FaultStart, v.Evidence[1].Time)
			}
		}},
		{"off-blackhole", Recovered, func(t *testing.T, v Verdict) {
			if d := v.Detect; d.Detected != 1 || v.Messages.Lost != 0 {
				t.Errorf("detection %+v, messages %+v", d, v.Messages)
			}
		}},
		{"restart-lost-stuck", Stuck, func(t *testing.T, v Verdict) {
			// The conductor's ack of cast 125 failed as the node closed its connection: it
			// dropped the cast unprocessed, and the transient queue went with the node.
			if v.Messages.Lost != 1 || !slices.Equal(v.Messages.LostIDs, []string{"125"}) || !hasRule(v.Evidence, ruleDiscarded) {
				t.Errorf("messages %+v, evidence %v", v.Messages, v.Evidence)
			}
			if !strings.Contains(v.Reason, "not back at the pre-fault p99") || !strings.Contains(v.Reason, "1 acknowledged cast lost") {
				t.Errorf("reason %q", v.Reason)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := loadCell(t, tc.name)
			v := FailoverVerdict(observationsOf(c))
			t.Logf("%s — %s\n  %s", v.Kind, v.Reason, v.Figures())
			if v.Kind != tc.kind {
				t.Errorf("%s, want %s", v.Kind, tc.kind)
			}
			// Whatever happened, the counts add up.
			m, rq := v.Messages, v.Requests
			if m.IDs != rq.Sent || m.IDs != m.Received+m.Lost+m.FailedNotReceived || m.Unknown != 0 ||
				rq.Sent != rq.OK+rq.Errors+rq.TimedOut || rq.Sent != len(c.Requests) {
				t.Errorf("counts do not add up: requests %+v, messages %+v", rq, m)
			}
			if len(v.Evidence) == 0 || len(v.Evidence) > maxEvidence {
				t.Errorf("%d evidence lines", len(v.Evidence))
			}
			for i := 1; i < len(v.Evidence); i++ {
				if v.Evidence[i].Time.Before(v.Evidence[i-1].Time) {
					t.Errorf("evidence out of order at %d", i)
				}
			}
			tc.check(t, v)
		})
	}
}

// Derived by editing a recording: one app process answers nothing after the fault (its
// requests after the fault removed). The service is STUCK, and the reason names the process.
func TestVerdictStuckProcess(t *testing.T) {
	c := loadCell(t, "green-hang")
	pid := 0
	for _, r := range c.Requests {
		if r.OK() && r.Sent.Before(c.Fault.Start) {
			pid = r.PID
			break
		}
	}
	c.Requests = slices.DeleteFunc(c.Requests, func(r Request) bool { return r.PID == pid && r.End().After(c.Fault.End) })
	v := FailoverVerdict(observationsOf(c))
	if v.Kind != Stuck || !strings.Contains(v.Reason, "app process") {
		t.Errorf("%s — %s, want STUCK naming the process", v.Kind, v.Reason)
	}
}
