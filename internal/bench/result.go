package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math/bits"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Result is everything a run measured. It is also the --json output, marshalled as
// is: see the package documentation (doc.go) and README.md for the field list.
// Durations are integer nanoseconds (fields named *_ns).
type Result struct {
	// What was run.
	URL         string    `json:"url"`
	Method      string    `json:"method"`
	Host        string    `json:"host"` // ab's "Server Hostname"
	Port        int       `json:"port"`
	Path        string    `json:"path"` // ab's "Document Path"
	Concurrency int       `json:"concurrency"`
	KeepAlive   bool      `json:"keep_alive"`
	Requests    int64     `json:"requests"` // the limit asked for, 0 for none
	Start       time.Time `json:"start"`
	// Elapsed is ab's "Time taken for tests": from the start to the last completed
	// response, or to the moment the run was stopped.
	Elapsed time.Duration `json:"elapsed_ns"`
	// StopReason is why the run ended: "requests", "duration", "canceled",
	// "failures" (MaxFailures), "receive-error" (StopOnReceiveError) or
	// "connect-error" (the first connection could not be made).
	StopReason string `json:"stop_reason"`

	ServerSoftware string `json:"server_software"`
	DocumentLength int64  `json:"document_length"` // body length of the first response
	VariableLength bool   `json:"variable_length"`

	// Counts, with ab's rules: Complete includes Length and Receive failures and
	// non-2xx responses; Failed also counts connect errors and exceptions, which do
	// not complete (so Failed can exceed Complete).
	Complete          int64         `json:"complete"`
	Failed            int64         `json:"failed"`
	Failures          FailureCounts `json:"failures"`
	WriteErrors       int64         `json:"write_errors"`
	Non2xx            int64         `json:"non_2xx"`
	StatusCodes       map[int]int64 `json:"status_codes"`
	KeepAliveRequests int64         `json:"keep_alive_requests"`
	Connections       int64         `json:"connections"` // connections opened
	TotalBytes        int64         `json:"total_transferred"`
	BodyBytes         int64         `json:"html_transferred"`
	SentBytes         int64         `json:"total_sent"` // request bytes written
	BodySent          bool          `json:"body_sent"`  // requests carried a body (-p/-u)
	Throughput        Throughput    `json:"throughput"`
	Connect           Summary       `json:"connect"`
	Processing        Summary       `json:"processing"`
	Waiting           Summary       `json:"waiting"`
	Total             Summary       `json:"total"`
	Served            []Served      `json:"served"`      // ab's percentage table
	Percentiles       []Percentile  `json:"percentiles"` // wsgilab's, from the histogram
	Histogram         *Histogram    `json:"histogram"`   // of Total latency
	Timeline          []Second      `json:"timeline"`
	Rate              *RateStats    `json:"rate,omitempty"`
}

// FailureCounts is ab's "(Connect: , Receive: , Length: , Exceptions: )" breakdown;
// Timeouts are the part of Exceptions due to Config.Timeout.
type FailureCounts struct {
	Connect    int64 `json:"connect"`
	Receive    int64 `json:"receive"`
	Length     int64 `json:"length"`
	Exceptions int64 `json:"exceptions"`
	Timeouts   int64 `json:"timeouts"`
}

// Throughput holds ab's derived figures, computed from Elapsed and the counts.
type Throughput struct {
	RequestsPerSecond float64 `json:"requests_per_second"`
	TimePerRequestMs  float64 `json:"time_per_request_ms"`     // mean, x concurrency
	TimePerRequestAll float64 `json:"time_per_request_all_ms"` // mean, across all concurrent requests
	TransferKBps      float64 `json:"transfer_rate_kbps"`      // received, Kbytes/sec
}

// Summary is one row of ab's "Connection Times" table, exact except the median,
// which comes from the histogram (at its 3 significant digits) with ab's rule.
type Summary struct {
	Min    time.Duration `json:"min_ns"`
	Mean   time.Duration `json:"mean_ns"`
	StdDev time.Duration `json:"sd_ns"`
	Median time.Duration `json:"median_ns"`
	Max    time.Duration `json:"max_ns"`
}

// Served is one line of ab's "Percentage of the requests served within a certain
// time" table: ab's index rule (the sample at done*percent/100 in sorted order).
type Served struct {
	Percent int           `json:"percent"`
	Latency time.Duration `json:"latency_ns"`
}

// Percentile is a latency percentile of the Total histogram (HDR semantics: the
// highest value equivalent to the one at that rank).
type Percentile struct {
	Percentile float64       `json:"percentile"`
	Latency    time.Duration `json:"latency_ns"`
}

// Second is one second of the timeline, by completion time, counted from Start.
type Second struct {
	Second    int           `json:"second"`
	Completed int64         `json:"completed"`
	Errors    int64         `json:"errors"` // failed requests of any kind
	Non2xx    int64         `json:"non_2xx"`
	P50       time.Duration `json:"p50_ns"`
	P99       time.Duration `json:"p99_ns"`
	Max       time.Duration `json:"max_ns"`
	// Sent is the number of requests started in that second (useful with Rate).
	Sent int64 `json:"sent"`
}

// RateStats is the open-loop schedule's account (only with Config.Rate).
type RateStats struct {
	Target   float64 `json:"target"`   // requests per second asked for
	Achieved float64 `json:"achieved"` // requests started per second of the run
	// Intended is how many requests were due within the run; Sent how many started.
	Intended int64 `json:"intended"`
	Sent     int64 `json:"sent"`
	// Shortfall is Intended - Sent: due requests never started because every
	// connection was busy (the backlog when the run ended).
	Shortfall int64 `json:"shortfall"`
	// MaxBacklog is the most requests that were due but not started at one time, and
	// MaxLag the longest a request waited past its due time for a free connection.
	MaxBacklog int64         `json:"max_backlog"`
	MaxLag     time.Duration `json:"max_lag_ns"`
}

// Histogram is a latency histogram in nanoseconds (an HDR histogram, 3 significant
// digits). In JSON it is {"unit":"ns","count":N,"hdr":"<V2 compressed, base64>"},
// readable by any HdrHistogram implementation (Decode in Go).
type Histogram struct{ h *hdrhistogram.Histogram }

const (
	histLowest  = 1
	histHighest = int64(time.Hour)
	histDigits  = 3
)

func newHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(histLowest, histHighest, histDigits)
}

// HDR returns the underlying histogram (values in nanoseconds).
func (h *Histogram) HDR() *hdrhistogram.Histogram { return h.h }

// Count is the number of recorded latencies.
func (h *Histogram) Count() int64 {
	if h == nil || h.h == nil {
		return 0
	}
	return h.h.TotalCount()
}

// Percentile returns the latency at percentile p (0..100).
func (h *Histogram) Percentile(p float64) time.Duration {
	if h == nil || h.h == nil {
		return 0
	}
	return time.Duration(h.h.ValueAtPercentile(p))
}

type histogramJSON struct {
	Unit  string `json:"unit"`
	Count int64  `json:"count"`
	HDR   string `json:"hdr"`
}

// MarshalJSON encodes the histogram in HdrHistogram's V2 compressed format.
func (h *Histogram) MarshalJSON() ([]byte, error) {
	if h == nil || h.h == nil {
		return []byte("null"), nil
	}
	enc, err := h.h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		return nil, err
	}
	return json.Marshal(histogramJSON{Unit: "ns", Count: h.h.TotalCount(), HDR: string(enc)})
}

// UnmarshalJSON decodes what MarshalJSON wrote.
func (h *Histogram) UnmarshalJSON(b []byte) error {
	var j histogramJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	if j.Unit != "" && j.Unit != "ns" {
		return fmt.Errorf("histogram unit %q, want ns", j.Unit)
	}
	d, err := hdrhistogram.Decode([]byte(j.HDR))
	if err != nil {
		return fmt.Errorf("histogram: %w", err)
	}
	h.h = d
	return nil
}

// ReadResult reads a Result written by WriteJSON (wsgilab bench --json).
func ReadResult(r io.Reader) (*Result, error) {
	var res Result
	if err := json.NewDecoder(r).Decode(&res); err != nil {
		return nil, err
	}
	return &res, nil
}

// WriteJSON writes the result as indented JSON.
func (r *Result) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// valueAtIndex returns the value of the sample at 0-based index i of the sorted
// samples (how ab reads its sorted array), as the middle of its histogram bucket:
// the least biased choice for ab's rounding. It allocates nothing, so the report
// costs no memory that grows with the run.
func valueAtIndex(h *hdrhistogram.Histogram, i int64) int64 {
	n := h.TotalCount()
	if n == 0 {
		return 0
	}
	i = min(max(i, 0), n-1)
	// ValueAtPercentile picks rank int(p/100*n + 0.5); aim at the middle of the
	// rank so that float rounding cannot land on a neighbour.
	p := (float64(i) + 1) / float64(n) * 100
	hi := h.ValueAtPercentile(p)
	return hi - (bucketWidth(hi)-1)/2
}

// bucketWidth is the width of the HDR bucket whose highest value is v, for
// histograms from newHistogram (lowest 1, 3 significant digits: unit resolution
// below 2048, then 2^(k-10) for values in [2^k, 2^(k+1))).
func bucketWidth(v int64) int64 {
	if v < 2048 {
		return 1
	}
	k := 63 - bits.LeadingZeros64(uint64(v))
	return int64(1) << (k - 10)
}
