package fault

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"wsgilab/internal/proc"
)

// blackhole drops every TCP packet to and from the node's AMQP port on lo: two iptables rules
// in INPUT (on loopback every packet passes INPUT once, so one chain stops both directions),
// tagged with a comment that names the port.
type blackhole struct {
	port int

	mu   sync.Mutex
	done func() // takes the guard's deletion back
}

// iptablesWait is how long iptables waits for the xtables lock: cells that start or end
// their blackholes at once take turns.
const iptablesWait = "10"

// Comment tags wsgilab's rules: `iptables -S | grep wsgilab-fault` finds any left behind.
func Comment(port int) string { return commentPrefix + strconv.Itoa(port) }

const commentPrefix = "wsgilab-fault-blackhole-"

// Rules lists the firewall rules of wsgilab's faults in place now, in every chain (iptables -S):
// none once every fault is undone. Tests check it after a run.
func Rules() ([]string, error) {
	out, err := exec.Command("iptables", "-w", iptablesWait, "-S").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("iptables -S: %v: %s", err, out)
	}
	var rules []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, commentPrefix) {
			rules = append(rules, l)
		}
	}
	return rules, nil
}

// Rules are the rule specifications (after the chain) the blackhole inserts.
func (b *blackhole) rules() [][]string {
	var out [][]string
	for _, dir := range []string{"--dport", "--sport"} {
		out = append(out, []string{"-i", "lo", "-p", "tcp", dir, strconv.Itoa(b.port),
			"-m", "comment", "--comment", Comment(b.port), "-j", "DROP"})
	}
	return out
}

func (b *blackhole) Inject(ctx context.Context) (time.Time, string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var del []string
	for _, r := range b.rules() {
		del = append(del, "iptables -w "+iptablesWait+" -D INPUT "+strings.Join(r, " "))
	}
	// Registered before the rules exist: a deletion of a rule that is not there fails
	// harmlessly, a rule nobody deletes would cut the port off for good.
	done, err := proc.UndoOnKill(strings.Join(del, "; "))
	if err != nil {
		return time.Time{}, "", err
	}
	b.done = done
	var added []string
	for _, r := range b.rules() {
		if err := iptables(ctx, append([]string{"-I", "INPUT"}, r...)...); err != nil {
			return time.Now(), "", err
		}
		added = append(added, "-I INPUT "+strings.Join(r, " "))
	}
	return time.Now(), "iptables " + strings.Join(added, "; iptables "), nil
}

func (b *blackhole) Undo(ctx context.Context) (time.Time, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done == nil {
		return time.Now(), nil
	}
	var errs []error
	for _, r := range b.rules() {
		// Until none is left: a rule inserted twice must not survive.
		for ruleExists(ctx, r) {
			if err := iptables(ctx, append([]string{"-D", "INPUT"}, r...)...); err != nil {
				errs = append(errs, err)
				break
			}
		}
	}
	t := time.Now()
	if len(errs) == 0 {
		b.done()
		b.done = nil
	}
	return t, errors.Join(errs...)
}

func ruleExists(ctx context.Context, r []string) bool {
	return exec.CommandContext(ctx, "iptables", append([]string{"-w", iptablesWait, "-C", "INPUT"}, r...)...).Run() == nil
}

func iptables(ctx context.Context, args ...string) error {
	out, err := exec.CommandContext(ctx, "iptables", append([]string{"-w", iptablesWait}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("iptables %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// checkIptables says whether rules can be added here: root, the iptables command, and a kernel
// that answers it (nf_tables or legacy xtables).
func checkIptables() error {
	if os.Geteuid() != 0 {
		return errors.New("fault blackhole: needs root (it adds iptables rules on lo)")
	}
	if _, err := exec.LookPath("iptables"); err != nil {
		return errors.New("fault blackhole: iptables not found (install it: bash scripts/install-stack.sh)")
	}
	if out, err := exec.Command("iptables", "-w", iptablesWait, "-S", "INPUT").CombinedOutput(); err != nil {
		return fmt.Errorf("fault blackhole: iptables cannot list rules here: %v: %s", err, firstLine(string(out)))
	}
	return nil
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return l
}
