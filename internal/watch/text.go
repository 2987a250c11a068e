package watch

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Screen renders samples as a terminal table: the service's processes, each one's connections,
// the churn, and the broker's closes (the last ones, newest last).
type Screen struct {
	// Header is the first line (what is watched).
	Header string
	// Redraw clears the terminal before each sample (a TTY); otherwise samples follow one
	// another.
	Redraw bool
	closes []Close
}

// maxCloses is how many of the broker's closes the screen keeps.
const maxCloses = 10

// Write renders one sample.
func (sc *Screen) Write(w io.Writer, s Sample) error {
	sc.closes = append(sc.closes, s.Closes...)
	if len(sc.closes) > maxCloses {
		sc.closes = sc.closes[len(sc.closes)-maxCloses:]
	}
	var b strings.Builder
	if sc.Redraw {
		b.WriteString("\033[H\033[2J")
	}
	fmt.Fprintf(&b, "%s  %s\n", sc.Header, s.T.Format("15:04:05"))
	fmt.Fprintf(&b, "connections %d (+%d -%d since the last sample; %d opened, %d closed, %d heartbeat closes since watch started)\n",
		s.Connections, s.Opened, s.Closed, s.OpenedTotal, s.ClosedTotal, s.ClosesTotal)
	for k, v := range s.Errors {
		fmt.Fprintf(&b, "error (%s): %s\n", k, v)
	}
	b.WriteString("\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PID\tSERVER\tAGE\tPORT\tSOCKET\tBROKER\tHEARTBEAT\tLAST TRAFFIC\tCHANNELS\tVHOST")
	for _, p := range s.Processes {
		age := "-"
		if p.AgeS > 0 {
			age = (time.Duration(p.AgeS) * time.Second).String()
		}
		server := p.Server
		if !p.Alive {
			server += " (gone)"
		}
		if len(p.Connections) == 0 {
			fmt.Fprintf(tw, "%d\t%s\t%s\t-\tno connection\t\t\t\t\t\n", p.PID, server, age)
			continue
		}
		for i, c := range p.Connections {
			pid, srv, a := "", "", ""
			if i == 0 {
				pid, srv, a = fmt.Sprint(p.PID), server, age
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", pid, srv, a, c.ClientPort, dash(c.Socket),
				dash(c.BrokerState), heartbeat(c), lastTraffic(c), channels(c), dash(c.Vhost))
		}
	}
	tw.Flush()
	if len(s.Processes) == 0 {
		b.WriteString("(no connection of the service: none matches, or none is open yet)\n")
	}
	if len(sc.closes) > 0 {
		b.WriteString("\nBroker closes (its log):\n")
		for _, c := range sc.closes {
			fmt.Fprintf(&b, "  %s  port %d  %s  %s\n", c.T.Local().Format("15:04:05.000"), c.ClientPort, dash(c.Name), closeReason(c))
		}
	}
	if !sc.Redraw {
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func closeReason(c Close) string {
	switch c.Rule {
	case "missed_heartbeats":
		return fmt.Sprintf("missed heartbeats from client, timeout: %ds", c.HeartbeatTimeout)
	case "client_closed_tcp":
		return "client unexpectedly closed TCP connection"
	case "connection_closed":
		return "closed by the client"
	}
	return c.Rule
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func heartbeat(c Connection) string {
	if c.BrokerState == "" {
		return "-"
	}
	if c.Heartbeat == 0 {
		return "off"
	}
	return fmt.Sprintf("%ds", c.Heartbeat)
}

func lastTraffic(c Connection) string {
	if c.BrokerState == "" {
		return "-"
	}
	s := fmt.Sprintf("%.1fs ago", c.LastTrafficS)
	if c.LastTrafficAtLeast {
		s = ">" + s
	}
	return s
}

func channels(c Connection) string {
	if c.BrokerState == "" {
		return "-"
	}
	return fmt.Sprint(c.Channels)
}
