package fault

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"
)

// reset destroys the broker's side of the service's connections (ss -K): the service gets an
// RST, the broker stays up.
type reset struct {
	port    int
	clients func() []int
	at      time.Time
}

func (r *reset) Inject(ctx context.Context) (time.Time, string, error) {
	ports := slices.Compact(slices.Sorted(slices.Values(r.clients())))
	if len(ports) == 0 {
		return time.Now(), "", errors.New("the service holds no connection to the broker to reset")
	}
	n, err := destroy(ctx, r.port, ports)
	r.at = time.Now()
	if err != nil {
		return r.at, "", err
	}
	if n == 0 {
		return r.at, "", fmt.Errorf("ss -K destroyed none of the %d connections (client ports %v)", len(ports), ports)
	}
	return r.at, fmt.Sprintf("ss -K: %d broker-side sockets of the service's connections (client ports %v)", n, ports), nil
}

// Undo has nothing to mend: the reset was an instant, and the service reconnects by itself.
func (r *reset) Undo(context.Context) (time.Time, error) {
	if r.at.IsZero() {
		return time.Now(), nil
	}
	return r.at, nil
}

// destroy runs `ss -K` on the established sockets whose local port is port and whose peer port
// is one of peers, and returns how many it destroyed (ss lists each one it closed).
func destroy(ctx context.Context, port int, peers []int) (int, error) {
	var dports []string
	for _, p := range peers {
		dports = append(dports, "dport = :"+strconv.Itoa(p))
	}
	filter := "( sport = :" + strconv.Itoa(port) + " ) and ( " + strings.Join(dports, " or ") + " )"
	out, err := exec.CommandContext(ctx, "ss", "-K", "-H", "-n", "-t", "state", "established", filter).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("ss -K %s: %v: %s", filter, err, firstLine(string(out)))
	}
	n := 0
	for _, l := range strings.Split(string(out), "\n") {
		if strings.TrimSpace(l) != "" {
			n++
		}
	}
	return n, nil
}

// checkSockDestroy says whether ss -K works here (root, ss, and a kernel built with
// CONFIG_INET_DIAG_DESTROY): it resets a loopback connection of its own and checks that the
// peer saw the reset.
func checkSockDestroy() error {
	if os.Geteuid() != 0 {
		return errors.New("fault reset: needs root (ss -K destroys sockets of other processes)")
	}
	if _, err := exec.LookPath("ss"); err != nil {
		return errors.New("fault reset: ss not found (package iproute2: bash scripts/install-stack.sh)")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("fault reset: checking ss -K: %w", err)
	}
	defer l.Close()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		return fmt.Errorf("fault reset: checking ss -K: %w", err)
	}
	defer c.Close()
	a, err := l.Accept()
	if err != nil {
		return fmt.Errorf("fault reset: checking ss -K: %w", err)
	}
	defer a.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n, err := destroy(ctx, l.Addr().(*net.TCPAddr).Port, []int{c.LocalAddr().(*net.TCPAddr).Port})
	if err != nil {
		return fmt.Errorf("fault reset: %w", err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, rerr := c.Read(make([]byte, 1))
	if n != 1 || rerr == nil || errors.Is(rerr, io.EOF) || isTimeout(rerr) {
		return fmt.Errorf("fault reset: this kernel does not destroy sockets with ss -K (CONFIG_INET_DIAG_DESTROY): destroyed %d, peer read %v", n, rerr)
	}
	return nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
