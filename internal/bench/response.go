package bench

import (
	"errors"
	"time"
)

// Failure classifies a failed request the way ab's report does.
type Failure uint8

const (
	// NoFailure: a response was received in full (whatever its status).
	NoFailure Failure = iota
	// FailConnect: the connection could not be opened (ab's "Connect").
	FailConnect
	// FailReceive: reading the response failed with a socket error such as a reset
	// (ab's "Receive").
	FailReceive
	// FailLength: the response ended early, or its body length differs from the
	// first response's and Config.VariableLength is off (ab's "Length").
	FailLength
	// FailException: anything else: a timeout, a malformed response, a write error
	// on a fresh connection (ab's "Exceptions").
	FailException
)

func (f Failure) String() string {
	switch f {
	case NoFailure:
		return "ok"
	case FailConnect:
		return "connect"
	case FailReceive:
		return "receive"
	case FailLength:
		return "length"
	case FailException:
		return "exception"
	}
	return "unknown"
}

// completes reports whether a request that failed this way still counts as a
// completed request, as ab counts it ("Complete requests" includes Length and, with
// -r, Receive failures; connect errors and exceptions are retried instead).
func (f Failure) completes() bool { return f == NoFailure || f == FailLength || f == FailReceive }

// ErrTimeout is the Err of a request that exceeded Config.Timeout.
var ErrTimeout = errors.New("timeout waiting for the response")

// Response describes one request to Config.OnResponse.
type Response struct {
	// Intended is when the request was due: its slot in the schedule with Rate,
	// otherwise the same as Start.
	Intended time.Time
	// Start is when work on it began: the connect on a new connection, the write on
	// a reused one (ab's start of a request).
	Start time.Time
	// Connect is the time to open the connection; 0 on a reused one.
	Connect time.Duration
	// Wait is from the end of writing the request to the first byte of the response
	// (ab's "Waiting").
	Wait time.Duration
	// Latency is from Intended to the end of the response (ab's "Total"; with Rate it
	// includes the time the request waited for a free connection).
	Latency time.Duration
	// Status is the HTTP status code, 0 if no status line was received.
	Status int
	// BodyBytes is the length of the (decoded) response body received.
	BodyBytes int64
	// KeepAlive tells whether the connection stays open for the next request.
	KeepAlive bool
	// Failure and Err say why the request failed; NoFailure and nil otherwise.
	Failure Failure
	Err     error
	// Captured holds the values of Config.CaptureHeaders, in that order, nil where
	// the response lacks the header. They point into the read buffer: copy to keep.
	Captured [][]byte
	// RawHeader is the response header block when Config.RawHeaders is set.
	RawHeader []byte
}

// CapturedString returns the i-th captured header value as a string ("" if absent).
func (r *Response) CapturedString(i int) string {
	if i < 0 || i >= len(r.Captured) {
		return ""
	}
	return string(r.Captured[i])
}
