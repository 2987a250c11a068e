package runner

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

func cellsNamed(n int) []Cell {
	out := make([]Cell, n)
	for i := range out {
		out[i] = Cell{ID: fmt.Sprintf("c%d", i)}
	}
	return out
}

// The shards of a matrix are disjoint, cover it, keep the matrix's order, and are the same
// every time.
func TestShardsPartitionTheMatrix(t *testing.T) {
	all := cellsNamed(12)
	for n := 1; n <= 12; n++ {
		seen := map[string]int{}
		for i := 1; i <= n; i++ {
			s := Shard{Index: i, Count: n}
			got, err := s.Select(all)
			if err != nil {
				t.Fatalf("%s: %v", s, err)
			}
			again, _ := s.Select(all)
			if !slices.Equal(ids(got), ids(again)) {
				t.Errorf("%s: not deterministic", s)
			}
			if !slices.IsSortedFunc(got, func(a, b Cell) int { return slices.Index(ids(all), a.ID) - slices.Index(ids(all), b.ID) }) {
				t.Errorf("%s: out of matrix order: %v", s, ids(got))
			}
			for _, c := range got {
				seen[c.ID]++
			}
		}
		for _, c := range all {
			if seen[c.ID] != 1 {
				t.Errorf("%d shards: cell %s in %d of them", n, c.ID, seen[c.ID])
			}
		}
	}
	got, _ := Shard{Index: 2, Count: 3}.Select(cellsNamed(7))
	if want := []string{"c1", "c4"}; !slices.Equal(ids(got), want) {
		t.Errorf("shard 2/3 of 7: %v, want %v", ids(got), want)
	}
	if _, err := (Shard{Index: 5, Count: 5}).Select(cellsNamed(4)); err == nil || !strings.Contains(err.Error(), "has none") {
		t.Errorf("an empty shard: %v", err)
	}
	if got, _ := (Shard{}).Select(all); len(got) != 12 {
		t.Errorf("the zero shard selects %d cells", len(got))
	}
}

func TestParseShard(t *testing.T) {
	for in, want := range map[string]Shard{"1/2": {1, 2}, " 3/3 ": {3, 3}, "1/1": {1, 1}} {
		if got, err := ParseShard(in); err != nil || got != want {
			t.Errorf("ParseShard(%q) = %v, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "1", "0/2", "3/2", "a/b", "1/0", "-1/2", "1/2/3"} {
		if _, err := ParseShard(bad); err == nil {
			t.Errorf("ParseShard(%q): no error", bad)
		}
	}
}
