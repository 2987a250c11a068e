package observe

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Scoreboard is one reading of Apache's mod_status (?auto).
//
// JSON:
//
//	{"mpm": "event",
//	 "busy_workers": 1, "idle_workers": 74, "graceful_workers": 0,
//	 "processes": 3,                   Apache child processes (mod_wsgi daemons are not in the scoreboard)
//	 "processes_from": "mod_status",   "mod_status" (event reports it) | "scoreboard" (prefork: one slot per
//	                                   process; worker: slots_per_process) | "" (unknown)
//	 "stopping": 0, "conns_total": 0, "conns_async_keepalive": 0,
//	 "total_accesses": 2, "uptime_s": 2,
//	 "slots": {"waiting": 74, "sending": 1, "open": 325},   scoreboard characters by state
//	 "scoreboard": "__W__...."}        verbatim
type Scoreboard struct {
	MPM                 string         `json:"mpm,omitempty"`
	BusyWorkers         int            `json:"busy_workers"`
	IdleWorkers         int            `json:"idle_workers"`
	GracefulWorkers     int            `json:"graceful_workers"`
	Processes           int            `json:"processes"`
	ProcessesFrom       string         `json:"processes_from"`
	Stopping            int            `json:"stopping"`
	ConnsTotal          int            `json:"conns_total"`
	ConnsAsyncKeepAlive int            `json:"conns_async_keepalive"`
	TotalAccesses       int64          `json:"total_accesses"`
	UptimeSeconds       int64          `json:"uptime_s"`
	Slots               map[string]int `json:"slots"`
	Board               string         `json:"scoreboard"`
}

// slotStates names mod_status's scoreboard characters.
var slotStates = map[rune]string{
	'_': "waiting", 'S': "starting", 'R': "reading", 'W': "sending", 'K': "keepalive",
	'D': "dns", 'C': "closing", 'L': "logging", 'G': "graceful", 'I': "idle_cleanup", '.': "open",
}

// ScoreboardProbe reads mod_status.
type ScoreboardProbe struct {
	url    string
	client *http.Client
	// SlotsPerProcess is the worker MPM's ThreadsPerChild, when ThreadLimit equals it: mod_status
	// gives each process that many consecutive slots and does not report the process count.
	SlotsPerProcess int
}

// NewScoreboard reads url, "http://127.0.0.1:PORT/server-status?auto". Its client never keeps
// a connection alive: a prefork child holding an idle keep-alive connection serves nothing else
// until KeepAliveTimeout, so the probe would pin one of the cell's processes.
func NewScoreboard(url string) *ScoreboardProbe {
	return &ScoreboardProbe{url: url, client: &http.Client{Timeout: 2 * time.Second,
		Transport: &http.Transport{DisableKeepAlives: true}}}
}

func (s *ScoreboardProbe) Name() string { return "scoreboard" }

func (s *ScoreboardProbe) Sample(ctx context.Context, _ time.Time) (any, []Event, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return nil, nil, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, resp.Body)
		return nil, nil, fmt.Errorf("%s: %s", s.url, resp.Status)
	}
	sb, err := ParseScoreboard(resp.Body, s.SlotsPerProcess)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", s.url, err)
	}
	return sb, nil, nil
}

// ParseScoreboard parses mod_status's ?auto output. slotsPerProcess counts worker-MPM
// processes (0 when unknown).
func ParseScoreboard(r io.Reader, slotsPerProcess int) (*Scoreboard, error) {
	sb := &Scoreboard{Slots: map[string]int{}}
	var hasProcesses, hasBoard bool
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ": ")
		if !ok {
			continue // the first line is the server name
		}
		n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		switch k {
		case "ServerMPM":
			sb.MPM = v
		case "BusyWorkers":
			sb.BusyWorkers = int(n)
		case "IdleWorkers":
			sb.IdleWorkers = int(n)
		case "GracefulWorkers":
			sb.GracefulWorkers = int(n)
		case "Processes":
			sb.Processes, hasProcesses = int(n), true
		case "Stopping":
			sb.Stopping = int(n)
		case "ConnsTotal":
			sb.ConnsTotal = int(n)
		case "ConnsAsyncKeepAlive":
			sb.ConnsAsyncKeepAlive = int(n)
		case "Total Accesses":
			sb.TotalAccesses = n
		case "ServerUptimeSeconds":
			sb.UptimeSeconds = n
		case "Scoreboard":
			sb.Board, hasBoard = v, true
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if !hasBoard {
		return nil, fmt.Errorf("no Scoreboard line (is ExtendedStatus or mod_status missing?)")
	}
	for _, c := range sb.Board {
		name, ok := slotStates[c]
		if !ok {
			name = string(c)
		}
		sb.Slots[name]++
	}
	switch {
	case hasProcesses:
		sb.ProcessesFrom = "mod_status"
	case sb.MPM == "prefork":
		// One slot per process; every slot that is not open is a live child.
		sb.Processes = len(sb.Board) - sb.Slots["open"]
		sb.ProcessesFrom = "scoreboard"
	case slotsPerProcess > 0:
		for i := 0; i < len(sb.Board); i += slotsPerProcess {
			row := sb.Board[i:min(i+slotsPerProcess, len(sb.Board))]
			if strings.Trim(row, ".") != "" {
				sb.Processes++
			}
		}
		sb.ProcessesFrom = "scoreboard"
	}
	return sb, nil
}
