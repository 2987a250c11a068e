// Package lab expands a matrix of stack configurations into cells and runs a scenario on each,
// sharing one broker (a vhost per cell) and giving every cell its own ports and run directory.
package lab

import (
	"fmt"
	"slices"
	"strings"
)

// Allowed values of the matrix dimensions, in the order the table prints them.
var (
	MPMs       = []string{"prefork", "worker", "event"}
	Modes      = []string{"embedded", "daemon"}
	Heartbeats = []string{"green", "pthread", "off"}
)

// Matrix is the set of values per dimension; Cells is their cartesian product.
type Matrix struct {
	MPMs       []string
	Modes      []string
	Heartbeats []string
	// Controls adds the write-ups' two control cells on the first MPM and mode: the same app
	// without eventlet.monkey_patch() (green heartbeat), and heartbeat off with TCP keepalive.
	Controls bool
}

// CellSpec is one configuration of the stack that a scenario runs on.
type CellSpec struct {
	ID           string `json:"id"`
	MPM          string `json:"mpm"`
	Mode         string `json:"mode"`
	Heartbeat    string `json:"heartbeat"`
	MonkeyPatch  bool   `json:"monkey_patch"`
	TCPKeepalive bool   `json:"tcp_keepalive"`
	// Control says why this cell is a control ("" for a matrix cell).
	Control string `json:"control,omitempty"`
}

// Cells expands the matrix, MPM-major, then mode, then heartbeat, then the controls.
func (m Matrix) Cells() []CellSpec {
	var out []CellSpec
	for _, mpm := range m.MPMs {
		for _, mode := range m.Modes {
			for _, hb := range m.Heartbeats {
				out = append(out, CellSpec{MPM: mpm, Mode: mode, Heartbeat: hb, MonkeyPatch: true})
			}
		}
	}
	if m.Controls && len(m.MPMs) > 0 && len(m.Modes) > 0 {
		out = append(out,
			CellSpec{MPM: m.MPMs[0], Mode: m.Modes[0], Heartbeat: "green", MonkeyPatch: false,
				Control: "no eventlet.monkey_patch()"},
			CellSpec{MPM: m.MPMs[0], Mode: m.Modes[0], Heartbeat: "off", MonkeyPatch: true, TCPKeepalive: true,
				Control: "heartbeat off, TCP keepalive"})
	}
	for i := range out {
		out[i].ID = out[i].name()
	}
	return out
}

func (c CellSpec) name() string {
	s := c.MPM + "-" + c.Mode + "-" + c.Heartbeat
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
