package broker

import (
	"fmt"
	"net"
	"strings"
	"sync"
)

// notifyListener receives the node's sd_notify messages (READY=1, STATUS=...). The socket's
// main purpose is to make rabbitmq-server exec the VM (see nodeConfig.serverEnv); the
// messages give the boot progress for error messages ("Startup in progress (core ready,
// starting plugins)").
type notifyListener struct {
	conn *net.UnixConn

	mu     sync.Mutex
	status string
	ready  bool
}

func listenNotify(name string) (*notifyListener, error) {
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		return nil, fmt.Errorf("notify socket %s: %w", name, err)
	}
	l := &notifyListener{conn: conn}
	go l.run()
	return l, nil
}

func (l *notifyListener) run() {
	buf := make([]byte, 4096)
	for {
		n, _, err := l.conn.ReadFromUnix(buf)
		if err != nil {
			return // closed
		}
		for _, line := range strings.Split(string(buf[:n]), "\n") {
			key, value, ok := strings.Cut(line, "=")
			if !ok {
				continue
			}
			l.mu.Lock()
			switch key {
			case "READY":
				l.ready = value == "1"
			case "STATUS":
				if value != "" {
					l.status = value
				}
			}
			l.mu.Unlock()
		}
	}
}

// Status is the last STATUS the node reported, "" if none.
func (l *notifyListener) Status() string {
	if l == nil {
		return ""
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ready {
		return "ready"
	}
	return l.status
}

func (l *notifyListener) Close() {
	if l != nil {
		l.conn.Close()
	}
}
