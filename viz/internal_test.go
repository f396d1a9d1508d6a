package viz

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"gonum.org/v1/plot"
)

func TestBlockSize(t *testing.T) {
	for _, tc := range []struct{ n, maxCells, want int }{
		{784, 40, 28}, // 28 cells of 28 rather than 40 of 20 (last one 4)
		{300, 40, 10}, // 30 cells of 10
		{784, 32, 28}, // 25 is the smallest; 28 divides 784
		{100, 40, 4},  // 25 cells
		{97, 40, 3},   // prime: no divisor up to 6, so ceil(97/40)
		{30, 40, 1},   // small enough already
		{784, -1, 1},  // negative: every weight
	} {
		if got := blockSize(tc.n, tc.maxCells); got != tc.want {
			t.Errorf("blockSize(%d, %d) = %d, want %d", tc.n, tc.maxCells, got, tc.want)
		}
	}
}

func labels(ts []plot.Tick) []string {
	var s []string
	for _, t := range ts {
		if t.Label != "" {
			s = append(s, t.Label)
		}
	}
	return s
}

func TestRemainingTicks(t *testing.T) {
	// LeNet-300-100 levels from the Lottery Ticket paper, 20% per round.
	x := []float64{100, 80.1, 64.2, 51.3, 41.1, 32.9, 26.3, 21.1, 16.9, 13.5, 10.8, 8.7, 7.0, 5.6, 4.5, 3.6, 2.9, 2.3, 1.9}
	ts := remainingTicks(x, nil).Ticks(1.9, 100)
	if len(ts) != len(x) {
		t.Errorf("%d ticks for %d levels, want one per level", len(ts), len(x))
	}
	// At most six labels, evenly spread on the log axis, ending with the
	// sparsest level.
	want := []string{"100", "51.3", "26.3", "13.5", "5.6", "1.9"}
	if diff := cmp.Diff(want, labels(ts)); diff != "" {
		t.Errorf("labelled ticks (-want +got):\n%s", diff)
	}
	explicit := remainingTicks(x, []float64{100, 51.3, 21.1, 7.0, 3.6}).Ticks(1.9, 100)
	if diff := cmp.Diff([]string{"100", "51.3", "21.1", "7.0", "3.6"}, labels(explicit)); diff != "" {
		t.Errorf("explicit ticks (-want +got):\n%s", diff)
	}
}

func TestRoundTicks(t *testing.T) {
	for _, tc := range []struct {
		lo, hi  float64
		n       int
		integer bool
		want    []string
	}{
		{0, 3000, 5, false, []string{"0", "1000", "2000", "3000"}},
		{0, 1, 6, false, []string{"0.0", "0.2", "0.4", "0.6", "0.8", "1.0"}},
		{0, 0.029, 5, false, []string{"0.00", "0.01", "0.02"}},
		{0, 28, 6, true, []string{"0", "5", "10", "15", "20", "25"}},
		{0, 784, 6, true, []string{"0", "200", "400", "600"}},
		{91.6, 98.4, 6, false, []string{"92", "94", "96", "98"}},
		{-0.2, 0.2, 5, false, []string{"-0.2", "-0.1", "0.0", "0.1", "0.2"}},
	} {
		if diff := cmp.Diff(tc.want, labels(roundTicks(tc.lo, tc.hi, tc.n, tc.integer))); diff != "" {
			t.Errorf("roundTicks(%v, %v, %d, %v) (-want +got):\n%s", tc.lo, tc.hi, tc.n, tc.integer, diff)
		}
	}
}

func TestLogTicks(t *testing.T) {
	if diff := cmp.Diff([]string{"0.01", "0.1", "1"}, labels(logTicks{}.Ticks(0.01, 2.3))); diff != "" {
		t.Errorf("logTicks(0.01, 2.3) (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"1e-8", "1e-6", "1e-4", "0.01"}, labels(logTicks{}.Ticks(1e-8, 0.2))); diff != "" {
		t.Errorf("logTicks(1e-8, 0.2) (-want +got):\n%s", diff)
	}
}

func TestFormatPercent(t *testing.T) {
	for v, want := range map[float64]string{100: "100", 51.28: "51.3", 7.0: "7.0", 3.58: "3.6", 0.523: "0.52", 0: "0"} {
		if got := formatPercent(v); got != want {
			t.Errorf("formatPercent(%v) = %q, want %q", v, got, want)
		}
	}
	if got := formatCount(266200); got != "266,200" {
		t.Errorf("formatCount(266200) = %q", got)
	}
}

func TestSequentialColormap(t *testing.T) {
	// Lightness must fall monotonically so that the map survives greyscale.
	prev := 1e9
	for i := 0; i <= 100; i++ {
		c := sequential(float64(i) / 100)
		y := 0.299*float64(c.R) + 0.587*float64(c.G) + 0.114*float64(c.B)
		if y > prev+0.5 {
			t.Errorf("luma rises at t=%v: %v > %v", float64(i)/100, y, prev)
		}
		prev = y
	}
	if sequential(0) != ylGnBu[0] || sequential(1) != ylGnBu[len(ylGnBu)-1] {
		t.Error("colour map ends are not the palette ends")
	}
}

func TestSeriesStylesDiffer(t *testing.T) {
	// The first 24 series differ in dash pattern or marker, not only colour.
	type cue struct{ dash, marker int }
	seen := map[cue]int{}
	for i := range 24 {
		c := cue{i % len(dashes), i % len(markers)}
		if j, ok := seen[c]; ok {
			t.Errorf("series %d and %d share dash and marker", j, i)
		}
		seen[c] = i
	}
}
