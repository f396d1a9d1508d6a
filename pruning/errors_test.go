package pruning

import (
	"errors"
	"maps"
	"math"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// TestBadInput: every kind of bad input gets an error that wraps the right sentinel and names
// what is wrong (and, for names, lists the valid ones); nothing changes.
func TestBadInput(t *testing.T) {
	specs := []layerSpec{{"/a/dense/weights", []int{4, 6}, seq(24, 1)}, {"/b/dense/weights", []int{6, 2}, seq(12, 1)}}
	prune := func(cfg Config, a Amount) func() error {
		return func() error {
			ctx := contextWith(t, specs...)
			before := masksAsBits(t, ctx)
			_, err := PruneOnce(ctx, cfg, a)
			if after := masksAsBits(t, ctx); err != nil && !maps.Equal(before, after) {
				t.Errorf("masks changed although PruneOnce failed")
			}
			return err
		}
	}
	withCtx := func(fn func(ctx *context.Context) error) func() error {
		return func() error { return fn(contextWith(t, specs...)) }
	}
	driverAt := func(s Schedule) func() error {
		return func() error {
			ctx := contextWith(t, specs...)
			_, err := NewDriver(ctx, s, Config{}).AfterStep(0)
			return err
		}
	}
	tests := []struct {
		name  string
		run   func() error
		want  error
		parts []string // the message must contain each
	}{
		// Amounts outside [0, 1).
		{"sparsity 1", prune(Config{}, Sparsity(1)), ErrInvalidAmount, []string{"amount 1", "not in [0, 1)"}},
		{"sparsity 1.5", prune(Config{}, Sparsity(1.5)), ErrInvalidAmount, []string{"amount 1.5"}},
		{"negative", prune(Config{}, FractionOfRemaining(-0.1)), ErrInvalidAmount, []string{"amount -0.1 (of_remaining)"}},
		{"NaN", prune(Config{}, Sparsity(math.NaN())), ErrInvalidAmount, []string{"amount NaN"}},
		{"per-layer amount 1", prune(Config{Allocation: PerLayer{Amounts: map[string]float64{"/a/**": 1}}}, Sparsity(0.5)),
			ErrInvalidAmount, []string{"/a/dense/weights", "amount 1"}},
		{"one-shot 1", driverAt(OneShot{Sparsity: 1}), ErrInvalidAmount, []string{"one-shot", "sparsity 1"}},
		{"iterative rate 1", driverAt(Iterative{Rate: 1, Cycles: 1}), ErrInvalidAmount, []string{"rate 1"}},
		{"polynomial final 1", driverAt(Polynomial{Final: 1, End: 10}), ErrInvalidAmount, []string{"final 1"}},
		{"sensitivity ladder 1", withCtx(func(ctx *context.Context) error {
			_, err := Sensitivity(ctx, Config{}, []float64{0.5, 1}, func() (float64, error) { return 1, nil })
			return err
		}), ErrInvalidAmount, []string{"sensitivity sparsity 1"}},

		// A schedule whose end precedes its begin.
		{"polynomial end before begin", driverAt(Polynomial{Final: 0.5, Begin: 200, End: 100, Frequency: 10}),
			ErrInvalidAmount, []string{"end step 100 precedes begin step 200"}},

		// Unknown names, listing the valid ones.
		{"unknown criterion", func() error { _, err := CriterionByName("magnitud"); return err }, ErrUnknownCriterion,
			[]string{`"magnitud"`, "known: l1norm, l2norm, magnitude, movement, random, snip, taylor"}},
		{"unknown structure", func() error { _, err := ParseStructure("rows"); return err }, ErrUnknownStructure,
			[]string{`"rows"`, "out_channels"}},
		{"skip names no layer", prune(Config{Skip: []string{"/c/**"}}, Sparsity(0.5)), ErrUnknownLayer,
			[]string{`"/c/**"`, "/a/dense/weights, /b/dense/weights"}},
		{"per-layer names no layer", prune(Config{Allocation: PerLayer{Amounts: map[string]float64{"/fc9/dense/weights": 0.5}}},
			Sparsity(0.5)), ErrUnknownLayer, []string{`"/fc9/dense/weights"`, "/a/dense/weights, /b/dense/weights"}},
		{"set mask of unknown layer", withCtx(func(ctx *context.Context) error {
			return SetMasks(ctx, MaskSet{"/a/dense/weight": NewMask(4, 6)})
		}), ErrUnknownLayer, []string{`"/a/dense/weight"`, "/a/dense/weights, /b/dense/weights"}},
		{"get mask of unknown layer", withCtx(func(ctx *context.Context) error {
			_, err := GetMask(ctx, "/z/weights")
			return err
		}), ErrUnknownLayer, []string{`"/z/weights"`, "masked variables: /a/dense/weights"}},

		// Masks: wrong shape, entries other than 0 and 1.
		{"mask shape mismatch", withCtx(func(ctx *context.Context) error {
			return SetMasks(ctx, MaskSet{"/a/dense/weights": NewMask(6, 4)})
		}), ErrInvalidMask, []string{"/a/dense/weights", "mask shape [6 4]", "variable shape [4 6]"}},
		{"mask tensor shape mismatch", withCtx(func(ctx *context.Context) error {
			return SetMaskFromTensor(ctx, "/b/dense/weights", tensors.FromValue([][]float32{{1, 0}}))
		}), ErrInvalidMask, []string{"/b/dense/weights", "mask shape [1 2]"}},
		{"mask entry 0.5", withCtx(func(ctx *context.Context) error {
			return SetMaskFromTensor(ctx, "/b/dense/weights", tensors.FromValue([][]float32{{1, 0}, {0.5, 1}, {1, 1},
				{1, 1}, {1, 1}, {1, 1}}))
		}), ErrInvalidMask, []string{"/b/dense/weights", "entry 2 is 0.5, want exactly 0 or 1"}},
		{"mask entry NaN", func() error {
			_, err := MaskFromValues([]int{2}, []float64{1, math.NaN()})
			return err
		}, ErrInvalidMask, []string{"entry 1 is NaN"}},
		{"mask with too few entries", withCtx(func(ctx *context.Context) error {
			return SetMasks(ctx, MaskSet{"/a/dense/weights": {Shape: []int{4, 6}, Keep: make([]bool, 5)}})
		}), ErrInvalidMask, []string{"/a/dense/weights", "shape [4 6] has 24 entries, mask has 5"}},

		// N:M on an input dimension that is not a multiple of M.
		{"N:M on 6 inputs", prune(Config{Structure: NM{N: 2, M: 4}, Skip: []string{"/a/**"}}, Sparsity(0)),
			ErrIncompatibleStructure, []string{"/b/dense/weights", "input dimension 6 is not a multiple of M=4"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run()
			t.Log(err)
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want one wrapping %v", err, tc.want)
			}
			for _, p := range tc.parts {
				if !strings.Contains(err.Error(), p) {
					t.Errorf("error %q does not mention %q", err, p)
				}
			}
		})
	}
}

func TestComparePaths(t *testing.T) {
	// Numbers compare by value ("/b2" before "/b10"); equal numbers, the shorter spelling first.
	sorted := []string{"/a/weights", "/b1/x", "/b01/weights", "/b2/weights", "/b10/weights", "/b10a", "/c", "/c/d"}
	for i := range sorted {
		for j := range sorted {
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			if got := ComparePaths(sorted[i], sorted[j]); got != want {
				t.Errorf("ComparePaths(%q, %q) = %d, want %d", sorted[i], sorted[j], got, want)
			}
		}
	}
}
