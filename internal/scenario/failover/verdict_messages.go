package failover

import (
	"slices"
	"strconv"

	"wsgilab/internal/observe"
)

// Requests counts the client's requests by outcome: Sent = OK + Errors + TimedOut.
//
// JSON:
//
//	{"sent": 400, "ok": 268,          answered 2xx
//	 "errors": 0,                     answered otherwise (a 500 with the app's exception), or no answer for another reason
//	 "timed_out": 132,                the client gave up (no answer within the request timeout)
//	 "messaging_timeouts": 0,         calls answered "MessagingTimeout" (of errors)
//	 "failed_after": 0,               requests sent after the fault ended that failed (errors + timed out)
//	 "timed_out_after": 0}            of them, timed out
type Requests struct {
	Sent              int `json:"sent"`
	OK                int `json:"ok"`
	Errors            int `json:"errors"`
	TimedOut          int `json:"timed_out"`
	MessagingTimeouts int `json:"messaging_timeouts"`
	FailedAfter       int `json:"failed_after"`
	TimedOutAfter     int `json:"timed_out_after"`
}

// countRequests counts the requests by outcome, and those sent after the fault ended apart.
func countRequests(reqs []Request, ph Phases) Requests {
	var c Requests
	for _, r := range reqs {
		c.Sent++
		after := r.Sent.After(ph.FaultEnd)
		switch {
		case r.OK():
			c.OK++
		case r.TimedOut:
			c.TimedOut++
			if after {
				c.TimedOutAfter++
			}
		default:
			c.Errors++
			if r.MessagingTimeout() {
				c.MessagingTimeouts++
			}
		}
		if !r.OK() && after {
			c.FailedAfter++
		}
	}
	return c
}

// Messages are the client's requests against the conductor's record, as a queue checker
// counts them, by id (every request has one: a cast's or a call's; a request repeated with the
// same id counts once, acknowledged if any of its copies was).
// IDs = Received + Lost + FailedNotReceived.
//
// JSON:
//
//	{"ids": 400,                         distinct ids the client sent
//	 "casts": 200, "casts_acked": 134,   casts sent, and answered 2xx (handed to the driver)
//	 "received": 400,                    ids the conductor received at least once
//	 "lost": 0,                          acknowledged (2xx), never received: a cast the service
//	                                     said it sent and nobody got
//	 "failed_not_received": 0,           reported failed and never received (consistent)
//	 "received_unacked": 132,            received although the client was told it failed (or gave
//	                                     up): the action happened behind the user's back
//	 "duplicated": 1,                    ids received more than once (processed twice)
//	 "driver_duplicates": 1,             the conductor's "ignoring duplicate message" lines: a
//	                                     redelivery its driver caught
//	 "unknown": 0,                       ids received that the client never sent (a broken record: 0)
//	 "lost_ids": [...], "duplicated_ids": [...], "received_unacked_ids": [...]}   the first 20 of each
type Messages struct {
	IDs                int      `json:"ids"`
	Casts              int      `json:"casts"`
	CastsAcked         int      `json:"casts_acked"`
	Received           int      `json:"received"`
	Lost               int      `json:"lost"`
	FailedNotReceived  int      `json:"failed_not_received"`
	ReceivedUnacked    int      `json:"received_unacked"`
	Duplicated         int      `json:"duplicated"`
	DriverDuplicates   int      `json:"driver_duplicates"`
	Unknown            int      `json:"unknown"`
	LostIDs            []string `json:"lost_ids,omitempty"`
	DuplicatedIDs      []string `json:"duplicated_ids,omitempty"`
	ReceivedUnackedIDs []string `json:"received_unacked_ids,omitempty"`
}

// maxIDs bounds each list of ids in the findings; the counts are whole.
const maxIDs = 20

// accountMessages joins the client's requests with the conductor's deliveries by id, and
// counts the conductor's own duplicate lines.
func accountMessages(reqs []Request, received []Delivery, events []observe.Event) Messages {
	var m Messages
	count := map[string]int{}
	for _, d := range received {
		count[d.ID]++
	}
	acked := map[string]bool{}
	var ids []string
	for _, r := range reqs {
		if r.Path == PathCast {
			m.Casts++
			if r.OK() {
				m.CastsAcked++
			}
		}
		if _, seen := acked[r.ID]; !seen {
			ids = append(ids, r.ID)
		}
		acked[r.ID] = acked[r.ID] || r.OK()
	}
	m.IDs = len(ids)
	for _, id := range ids {
		n := count[id]
		switch {
		case n > 0:
			m.Received++
			if !acked[id] {
				m.ReceivedUnacked++
				m.ReceivedUnackedIDs = appendID(m.ReceivedUnackedIDs, id)
			}
			if n > 1 {
				m.Duplicated++
				m.DuplicatedIDs = appendID(m.DuplicatedIDs, id)
			}
		case acked[id]:
			m.Lost++
			m.LostIDs = appendID(m.LostIDs, id)
		default:
			m.FailedNotReceived++
		}
	}
	for id := range count {
		if _, sent := acked[id]; !sent {
			m.Unknown++
		}
	}
	for _, e := range events {
		if e.Rule == ruleDuplicateMessage {
			m.DriverDuplicates++
		}
	}
	sortIDs(m.LostIDs)
	sortIDs(m.DuplicatedIDs)
	sortIDs(m.ReceivedUnackedIDs)
	return m
}

// ruleDuplicateMessage is the conductor's driver catching a redelivered message
// (internal/observe's signature table).
const ruleDuplicateMessage = "duplicate_message"

func appendID(ids []string, id string) []string {
	if len(ids) >= maxIDs {
		return ids
	}
	return append(ids, id)
}

// sortIDs orders ids numerically (they are the requests' sequence numbers).
func sortIDs(ids []string) {
	slices.SortFunc(ids, func(a, b string) int {
		ai, _ := strconv.Atoi(a)
		bi, _ := strconv.Atoi(b)
		return ai - bi
	})
}
