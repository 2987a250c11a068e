package stats

// Interleave returns the order in which to run reps repetitions of each cell: reps rounds of
// cells in their given order, A B C A B C ... Running the cells round-robin instead of all of
// A then all of B spreads slow drift of the machine (page cache warming, a noisy neighbour,
// thermal throttling, log files growing) over every cell instead of charging it to the last
// one. Warm-up runs are not part of the schedule: the runner does them first and drops them.
func Interleave[T any](cells []T, reps int) []T {
	out := make([]T, 0, max(reps, 0)*len(cells))
	for range max(reps, 0) {
		out = append(out, cells...)
	}
	return out
}

// Balanced is Interleave with every other round reversed: A B C C B A A B C ... Over each
// pair of rounds every cell has the same mean position, so a drift that is linear in time
// cancels exactly; with plain Interleave the first cell always runs earliest in its round and
// keeps a small bias. With an odd reps the last round is forward and unbalanced.
func Balanced[T any](cells []T, reps int) []T {
	out := make([]T, 0, max(reps, 0)*len(cells))
	for r := range max(reps, 0) {
		if r%2 == 0 {
			out = append(out, cells...)
			continue
		}
		for i := len(cells) - 1; i >= 0; i-- {
			out = append(out, cells[i])
		}
	}
	return out
}
