package stats

import (
	"slices"
	"testing"
)

func TestInterleave(t *testing.T) {
	got := Interleave([]string{"A", "B", "C"}, 3)
	want := []string{"A", "B", "C", "A", "B", "C", "A", "B", "C"}
	if !slices.Equal(got, want) {
		t.Errorf("Interleave = %v", got)
	}
	if len(Interleave([]string{"A"}, 0)) != 0 || len(Interleave([]string{"A"}, -1)) != 0 {
		t.Error("no repetitions should give an empty schedule")
	}
}

func TestBalancedCancelsLinearDrift(t *testing.T) {
	cells := []string{"A", "B", "C"}
	got := Balanced(cells, 4)
	want := []string{"A", "B", "C", "C", "B", "A", "A", "B", "C", "C", "B", "A"}
	if !slices.Equal(got, want) {
		t.Fatalf("Balanced = %v", got)
	}
	// With a drift proportional to the position, every cell accumulates the same total.
	sum := map[string]int{}
	for i, c := range got {
		sum[c] += i
	}
	if sum["A"] != sum["B"] || sum["B"] != sum["C"] {
		t.Errorf("position sums %v differ: drift would not cancel", sum)
	}
	// Each cell still runs exactly reps times.
	for _, c := range cells {
		n := 0
		for _, g := range got {
			if g == c {
				n++
			}
		}
		if n != 4 {
			t.Errorf("%s runs %d times, want 4", c, n)
		}
	}
}
