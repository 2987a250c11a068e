package observe

import (
	"os"
	"time"

	"github.com/prometheus/procfs"
)

// CPUSample is the machine's CPU time and the part of it a process tree used, at one moment:
// two samples tell how busy the rest of the machine was in between (OtherCPUPct). A benchmark
// measured while something else takes the CPU is slower and noisier than on a quiet machine,
// and can even rank configurations differently: the user is told, with this as evidence.
type CPUSample struct {
	At time.Time
	// Busy is the machine's CPU time not idle (/proc/stat: user, nice, system, irq, softirq
	// and steal, the time the hypervisor gave this VM's CPUs to someone else).
	Busy float64
	// Tree is the CPU time of the root process and every process below it, the ones already
	// reaped included (their parents' cutime and cstime), in seconds.
	Tree float64
	// CPUs is how many CPUs /proc/stat counts (the machine's, not this process's affinity).
	CPUs int
}

// TakeCPUSample samples the machine and the process tree under root (wsgilab itself: the load
// generator, and the broker, servers and conductors it started).
func TakeCPUSample(root int) (CPUSample, error) {
	fs, err := procfs.NewDefaultFS()
	if err != nil {
		return CPUSample{}, err
	}
	st, err := fs.Stat()
	if err != nil {
		return CPUSample{}, err
	}
	c := st.CPUTotal
	s := CPUSample{At: time.Now(), Busy: c.User + c.Nice + c.System + c.IRQ + c.SoftIRQ + c.Steal, CPUs: len(st.CPU)}
	// One pass over /proc: each process's parent and CPU, then the tree from root.
	procs, err := fs.AllProcs()
	if err != nil {
		return CPUSample{}, err
	}
	children := map[int][]int{}
	cpu := map[int]float64{}
	for _, p := range procs {
		ps, err := p.Stat()
		if err != nil {
			continue // gone since: its CPU moved to its parent's cutime, read or not
		}
		children[ps.PPID] = append(children[ps.PPID], p.PID)
		// Every process is counted once: a live one by its own utime and stime, a reaped one
		// by its parent's cutime and cstime (in USER_HZ ticks, 100 per second on Linux).
		cpu[p.PID] = ps.CPUTime() + float64(ps.CUTime+ps.CSTime)/100
	}
	for queue := []int{root}; len(queue) > 0; queue = queue[1:] {
		s.Tree += cpu[queue[0]]
		queue = append(queue, children[queue[0]]...)
	}
	return s, nil
}

// TakeOwnCPUSample is TakeCPUSample of this process.
func TakeOwnCPUSample() (CPUSample, error) { return TakeCPUSample(os.Getpid()) }

// OtherCPUPct is the CPU that processes outside the tree used from a to b, in % of the whole
// machine (every core): 0 on a quiet machine, 50 when one busy loop shares a 2-core machine
// with the lab. A process of the tree that ended orphaned is counted as outside.
func OtherCPUPct(a, b CPUSample) float64 {
	wall := b.At.Sub(a.At).Seconds() * float64(b.CPUs)
	if wall <= 0 {
		return 0
	}
	other := (b.Busy - a.Busy) - (b.Tree - a.Tree)
	return min(100, max(0, 100*other/wall))
}
