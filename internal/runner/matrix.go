package runner

import (
	"fmt"
	"slices"
	"strings"
)

// Allowed values of the matrix dimensions, in the order tables print them.
var (
	MPMs       = []string{"prefork", "worker", "event"}
	Modes      = []string{"embedded", "daemon"}
	Heartbeats = []string{"green", "pthread", "off"}
)

// Matrix is the set of values per dimension; Specs is their cartesian product.
//
// JSON: {"mpms": ["prefork", ...], "modes": ["embedded", ...], "heartbeats": ["green", ...]}
type Matrix struct {
	MPMs       []string `json:"mpms"`
	Modes      []string `json:"modes"`
	Heartbeats []string `json:"heartbeats,omitempty"`
}

// CellSpec is one configuration along the matrix's dimensions.
//
// JSON: {"mpm": "prefork", "mode": "embedded", "heartbeat": "green", "monkey_patch": true,
// "tcp_keepalive": false, "control": ""}
type CellSpec struct {
	MPM          string `json:"mpm"`
	Mode         string `json:"mode"`
	Heartbeat    string `json:"heartbeat,omitempty"`
	MonkeyPatch  bool   `json:"monkey_patch"`
	TCPKeepalive bool   `json:"tcp_keepalive,omitempty"`
	// Control says why this cell is a control ("" for a matrix cell).
	Control string `json:"control,omitempty"`
}

// Specs expands the matrix, MPM-major, then mode, then heartbeat; every cell is
// monkey-patched (the write-ups' service), which a scenario may change.
func (m Matrix) Specs() []CellSpec {
	var out []CellSpec
	for _, mpm := range m.MPMs {
		for _, mode := range m.Modes {
			hbs := m.Heartbeats
			if len(hbs) == 0 {
				hbs = []string{""}
			}
			for _, hb := range hbs {
				out = append(out, CellSpec{MPM: mpm, Mode: mode, Heartbeat: hb, MonkeyPatch: true})
			}
		}
	}
	return out
}

// Name is the cell id the spec gives: "prefork-embedded-green", with "-nopatch" and
// "-keepalive" for the controls.
func (c CellSpec) Name() string {
	s := c.MPM + "-" + c.Mode
	if c.Heartbeat != "" {
		s += "-" + c.Heartbeat
	}
	if !c.MonkeyPatch {
		s += "-nopatch"
	}
	if c.TCPKeepalive {
		s += "-keepalive"
	}
	return s
}

// ParseList splits a comma-separated flag value and checks every item against allowed,
// dropping duplicates; the error names the flag and the allowed values.
func ParseList(flag, value string, allowed []string) ([]string, error) {
	var out []string
	for _, item := range strings.Split(value, ",") {
		item = strings.TrimSpace(strings.ToLower(item))
		if item == "" {
			continue
		}
		if !slices.Contains(allowed, item) {
			return nil, fmt.Errorf("--%s: unknown value %q (allowed: %s)", flag, item, strings.Join(allowed, ", "))
		}
		if !slices.Contains(out, item) {
			out = append(out, item)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--%s: no value given (allowed: %s)", flag, strings.Join(allowed, ", "))
	}
	return out, nil
}
