package oneshot

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestErrors(t *testing.T) {
	f := newFixture(t, 31, 16, 4, 32)
	good := f.layer
	odd := Layer{Name: "odd", In: 10, Out: 2, W: make([]float32, 20)}
	oddStats := NewStats(10)
	if err := oddStats.Add(make([]float32, 10), 1); err != nil {
		t.Fatal(err)
	}
	nan := Layer{Name: "nan", In: 16, Out: 4, W: append([]float32(nil), good.W...)}
	nan.W[9] = float32(math.NaN())
	short := Layer{Name: "short", In: 16, Out: 4, W: good.W[:63]}

	type call func() error
	magnitude := func(l Layer, p Pattern) call {
		return func() error { _, err := Magnitude(l, p); return err }
	}
	wanda := func(l Layer, s *Stats, p Pattern) call {
		return func() error { _, err := Wanda(l, s, p); return err }
	}
	sparseGPT := func(l Layer, s *Stats, p Pattern, o SparseGPTOptions) call {
		return func() error { _, _, err := SparseGPT(l, s, p, o); return err }
	}
	reconstruction := func(l Layer, w []float32, s *Stats) call {
		return func() error { _, err := ReconstructionError(l, w, s); return err }
	}
	for _, tc := range []struct {
		name string
		call call
		want error
		text string // in the message
	}{
		{"Wanda without statistics", wanda(good, nil, NM(2, 4)), ErrNoCalibration, "fc"},
		{"Wanda with empty statistics", wanda(good, NewStats(16), NM(2, 4)), ErrNoCalibration, "fc"},
		{"SparseGPT with empty statistics", sparseGPT(good, NewStats(16), NM(2, 4), SparseGPTOptions{}), ErrNoCalibration, "no rows"},
		{"ReconstructionError with empty statistics", reconstruction(good, good.W, NewStats(16)), ErrNoCalibration, "fc"},
		{"magnitude, In not a multiple of M", magnitude(odd, NM(2, 4)), ErrInvalidPattern, "odd: In=10 is not a multiple of M=4"},
		{"Wanda, In not a multiple of M", wanda(odd, oddStats, NM(4, 8)), ErrInvalidPattern, "odd: In=10"},
		{"SparseGPT, In not a multiple of M", sparseGPT(odd, oddStats, NM(2, 4), SparseGPTOptions{}), ErrInvalidPattern, "odd"},
		{"sparsity 1", magnitude(good, Unstructured(1)), ErrInvalidPattern, "sparsity 1 outside [0, 1)"},
		{"negative sparsity", wanda(good, f.stats, Unstructured(-0.1)), ErrInvalidPattern, "-0.1"},
		{"NaN sparsity", sparseGPT(good, f.stats, Unstructured(math.NaN()), SparseGPTOptions{}), ErrInvalidPattern, "NaN"},
		{"0:4", magnitude(good, NM(0, 4)), ErrInvalidPattern, "1 ≤ N ≤ M"},
		{"5:4", magnitude(good, NM(5, 4)), ErrInvalidPattern, "1 ≤ N ≤ M"},
		{"N:M and sparsity", magnitude(good, Pattern{Sparsity: 0.5, N: 2, M: 4}), ErrInvalidPattern, "one or the other"},
		{"N without M", magnitude(good, Pattern{N: 2}), ErrInvalidPattern, "without M"},
		{"short W", magnitude(short, NM(2, 4)), ErrShape, "short: W has 63 values"},
		{"statistics of another width", wanda(good, oddStats, NM(2, 4)), ErrShape, "statistics of 10 inputs"},
		{"new weights of another size", reconstruction(good, good.W[:8], f.stats), ErrShape, "fc"},
		{"NaN weight", sparseGPT(nan, f.stats, NM(2, 4), SparseGPTOptions{}), ErrNotFinite, "nan: W[2][1]"},
		{"negative block size", sparseGPT(good, f.stats, NM(2, 4), SparseGPTOptions{BlockSize: -1}), ErrInvalidOptions, "BlockSize -1"},
		{"NaN dampening", sparseGPT(good, f.stats, NM(2, 4), SparseGPTOptions{PercDamp: math.NaN()}), ErrInvalidOptions, "PercDamp NaN"},
		{"Add, wrong length", func() error { return NewStats(4).Add(make([]float32, 7), 2) }, ErrShape, "7 values for 2 rows of 4"},
		{"Add, NaN input", func() error { return NewStats(2).Add([]float32{1, 2, float32(math.NaN()), 0}, 2) }, ErrNotFinite, "row 1, column 0"},
		{"Add, infinite input", func() error { return NewStats(2).Add([]float32{float32(math.Inf(-1)), 0}, 1) }, ErrNotFinite, "-Inf"},
		{"Merge of another width", func() error { return NewStats(4).Merge(NewStats(3)) }, ErrShape, "3 inputs into statistics of 4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.text) {
				t.Errorf("err = %q, want it to mention %q", err, tc.text)
			}
		})
	}
}

func TestPatternValidate(t *testing.T) {
	for _, p := range []Pattern{{}, Unstructured(0.999), NM(2, 4), NM(4, 4), NM(1, 1)} {
		if err := p.Validate(); err != nil {
			t.Errorf("%v: %v", p, err)
		}
	}
	if err := NM(3, 2).Validate(); !errors.Is(err, ErrInvalidPattern) {
		t.Errorf("3:2: err = %v, want ErrInvalidPattern", err)
	}
	for p, want := range map[Pattern]string{Unstructured(0.5): "0.5", NM(2, 4): "2:4", {}: "0"} {
		if got := p.String(); got != want {
			t.Errorf("String() = %q, want %q", got, want)
		}
	}
}
