package failover

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"time"
)

// ReceivedFile is the conductor's record of the request ids it received, in the cell's
// directory (the fake conductor writes it: WSGILAB_RECEIVED_LOG).
const ReceivedFile = "received.jsonl"

// Delivery is one message the conductor received, as it recorded it.
//
// JSON (one line of received.jsonl): {"id": "17", "method": "record", "pid": 4242, "t": 1764651234.5}
// method "record" is a cast, "echo" a call; pid is the app process that sent it; t the unix
// time it was received.
type Delivery struct {
	ID     string  `json:"id"`
	Method string  `json:"method"`
	PID    int     `json:"pid"`
	T      float64 `json:"t"`
}

// Time is when the conductor received it.
func (d Delivery) Time() time.Time {
	sec := int64(d.T)
	return time.Unix(sec, int64((d.T-float64(sec))*1e9))
}

// readReceived reads the conductor's record; a missing file is an empty record (the
// conductor writes it on its first delivery).
func readReceived(path string) ([]Delivery, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Delivery
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		var d Delivery
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
			return out, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		out = append(out, d)
	}
	return out, sc.Err()
}

// sortRequests orders requests as they were sent (by id, which is their sequence number).
func sortRequests(rs []Request) {
	slices.SortFunc(rs, func(a, b Request) int {
		if c := a.Sent.Compare(b.Sent); c != 0 {
			return c
		}
		ai, _ := strconv.Atoi(a.ID)
		bi, _ := strconv.Atoi(b.ID)
		return ai - bi
	})
}
