package stack

import (
	"strings"
	"testing"
)

// The oslo.conf a cell writes says what the fake service's import applies for each heartbeat
// mode (app.wsgi: the rate always; "off" is a zero threshold and leaves heartbeat_in_pthread at
// its default).
func TestOsloConf(t *testing.T) {
	for _, tt := range []struct {
		o         Options
		want, not []string
	}{
		{Options{Heartbeat: "green", HeartbeatTimeout: 3}, []string{"[oslo_messaging_rabbit]\n", "heartbeat_rate = 2\n",
			"heartbeat_timeout_threshold = 3\n", "heartbeat_in_pthread = false\n"}, nil},
		{Options{Heartbeat: "pthread", HeartbeatRate: 4}, []string{"heartbeat_rate = 4\n",
			"heartbeat_timeout_threshold = 60\n", "heartbeat_in_pthread = true\n"}, nil},
		{Options{Heartbeat: "off", HeartbeatTimeout: 3, TCPKeepalive: 5}, []string{"heartbeat_timeout_threshold = 0\n",
			"TCP_KEEPIDLE=5"}, []string{"heartbeat_in_pthread"}},
	} {
		got := osloConf(tt.o)
		for _, w := range tt.want {
			if !strings.Contains(got, w) {
				t.Errorf("%+v: oslo.conf lacks %q:\n%s", tt.o, w, got)
			}
		}
		for _, n := range tt.not {
			if strings.Contains(got, n) {
				t.Errorf("%+v: oslo.conf has %q:\n%s", tt.o, n, got)
			}
		}
	}
}
