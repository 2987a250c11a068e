package apache

import (
	"net/http"
	"time"
)

// NewClient is the HTTP client for wsgilab's own requests to a cell (readiness, /status,
// mod_status): it never keeps a connection alive. A prefork child (and a worker/event thread)
// that holds an idle keep-alive connection serves nothing else until it times out
// (KeepAliveTimeout, 5 s), so a polling client with keep-alive would pin one of a cell's
// processes and keep the experiment's traffic away from it.
func NewClient(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true}}
}
