package proc

import (
	"github.com/prometheus/procfs"
)

// GroupMembers lists the PIDs whose process group is pgid, read from /proc. A zombie still
// counts until its parent reaps it; that is what keeps "Stop returned" meaning "all gone".
func GroupMembers(pgid int) []int {
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
		st, err := p.Stat()
		if err != nil {
			continue // it exited while we looked
		}
		if st.PGRP == pgid {
			out = append(out, p.PID)
		}
	}
	return out
}

// Descendants lists every live process below pid (children, grandchildren, ...), e.g. the
// Apache children and mod_wsgi daemon processes under the Apache parent.
func Descendants(pid int) []int {
	fs, err := procfs.NewDefaultFS()
	if err != nil {
		return nil
	}
	procs, err := fs.AllProcs()
	if err != nil {
		return nil
	}
	children := map[int][]int{}
	for _, p := range procs {
		st, err := p.Stat()
		if err != nil {
			continue
		}
		children[st.PPID] = append(children[st.PPID], p.PID)
	}
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
