package proc

import (
	"github.com/prometheus/procfs"
)

// Matching lists the PIDs of the live processes (zombies included) for which keep is true. A
// process that exits while it is looked at is skipped.
func Matching(keep func(procfs.Proc) bool) []int {
	fs, err := procfs.NewDefaultFS()
	if err != nil {
		return nil
	}
	procs, err := fs.AllProcs()
	if err != nil {
		return nil
	}
	var out []int
	for _, p := range procs {
		if keep(p) {
			out = append(out, p.PID)
		}
	}
	return out
}

// GroupMembers lists the PIDs whose process group is pgid, read from /proc. A zombie still
// counts until its parent reaps it; that is what keeps "Stop returned" meaning "all gone".
func GroupMembers(pgid int) []int {
	return Matching(func(p procfs.Proc) bool {
		st, err := p.Stat()
		return err == nil && st.PGRP == pgid
	})
}

// Descendants lists every live process below pid (children, grandchildren, ...), e.g. the
// Apache children and mod_wsgi daemon processes under the Apache parent.
func Descendants(pid int) []int {
	children := map[int][]int{}
	Matching(func(p procfs.Proc) bool {
		if st, err := p.Stat(); err == nil {
			children[st.PPID] = append(children[st.PPID], p.PID)
		}
		return false
	})
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		for _, c := range children[cur] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}

// LiveMember says whether pid is a running member of process group pgid: not a zombie, and
// not a PID that has been reused by a process outside the group.
func LiveMember(pid, pgid int) bool {
	p, err := procfs.NewProc(pid)
	if err != nil {
		return false
	}
	st, err := p.Stat()
	return err == nil && st.PGRP == pgid && st.State != "Z"
}
