package runner

import (
	"fmt"
	"strconv"
	"strings"
)

// Shard is the I-th of N deterministic slices of a matrix, for runs that outgrow one machine:
// cell k of the matrix (0-based, in table order) belongs to shard k mod N + 1, so that every
// shard gets a share of each kind of cell and `wsgilab merge` can put them back in order.
// The zero Shard is the whole matrix.
type Shard struct {
	Index, Count int
}

// ParseShard reads "I/N" (1 <= I <= N).
func ParseShard(s string) (Shard, error) {
	i, n, ok := strings.Cut(strings.TrimSpace(s), "/")
	index, err1 := strconv.Atoi(i)
	count, err2 := strconv.Atoi(n)
	if !ok || err1 != nil || err2 != nil {
		return Shard{}, fmt.Errorf("--shard %q: want I/N, e.g. 1/4", s)
	}
	if count < 1 || index < 1 || index > count {
		return Shard{}, fmt.Errorf("--shard %q: want 1 <= I <= N", s)
	}
	return Shard{Index: index, Count: count}, nil
}

func (s Shard) String() string {
	if s.Count == 0 {
		return "all"
	}
	return fmt.Sprintf("%d/%d", s.Index, s.Count)
}

// Select returns the shard's cells of the whole matrix all, in matrix order.
func (s Shard) Select(all []Cell) ([]Cell, error) {
	if s.Count == 0 {
		return all, nil
	}
	if s.Index < 1 || s.Index > s.Count {
		return nil, fmt.Errorf("shard %s: want 1 <= I <= N", s)
	}
	var out []Cell
	for k, c := range all {
		if k%s.Count == s.Index-1 {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--shard %s: the matrix has %d cells, so shard %d has none (use at most --shard N/%d)",
			s, len(all), s.Index, len(all))
	}
	return out, nil
}
