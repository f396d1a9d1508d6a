package pruning

import (
	"cmp"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"
)

// randomWeights returns n float32 weights; with ties, drawn from a few values with random signs.
func randomWeights(rng *rand.Rand, n int, ties bool) []float32 {
	w := make([]float32, n)
	for i := range w {
		if ties {
			w[i] = float32(rng.IntN(7)) * 0.25
			if rng.IntN(2) == 0 {
				w[i] = -w[i]
			}
		} else {
			w[i] = float32(rng.NormFloat64())
		}
	}
	return w
}

// TestPruneSmallestMagnitude compares the radix selection with a sort by (|w|, layer, index),
// over several chunks per layer, with and without ties and with already pruned weights.
func TestPruneSmallestMagnitude(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	sizes := []int{chunkSize + 1000, 17, chunkSize/2 - 5}
	for _, ties := range []bool{false, true} {
		for _, frac := range []float64{0, 1e-6, 0.3, 1} {
			var layers []magLayer
			type entry struct {
				layer, index int
				key          uint32
			}
			var cands []entry
			for l, n := range sizes {
				w := randomWeights(rng, n, ties)
				keep := make([]bool, n)
				for i := range keep {
					keep[i] = rng.IntN(10) != 0 // 10% already pruned
					if keep[i] {
						cands = append(cands, entry{l, i, magKey(w[i])})
					}
				}
				layers = append(layers, magLayer{path: "l", w: w, keep: keep})
			}
			need := int(frac * float64(len(cands)))
			want := make([][]bool, len(layers))
			for l := range layers {
				want[l] = slices.Clone(layers[l].keep)
			}
			slices.SortFunc(cands, func(a, b entry) int {
				return cmp.Or(cmp.Compare(a.key, b.key), cmp.Compare(a.layer, b.layer), cmp.Compare(a.index, b.index))
			})
			for _, e := range cands[:need] {
				want[e.layer][e.index] = false
			}
			if err := pruneSmallestMagnitude(layers, need); err != nil {
				t.Fatal(err)
			}
			for l := range layers {
				if !slices.Equal(want[l], layers[l].keep) {
					t.Errorf("ties=%v need=%d: layer %d differs from the sort", ties, need, l)
				}
			}
		}
	}
}

// TestFastPathMatchesGeneralPath checks that unstructured magnitude pruning of float32 variables
// (selected on the weights in place) gives the masks the general path (sorting scores) gives.
func TestFastPathMatchesGeneralPath(t *testing.T) {
	abs := NewCriterion("abs", func(in *ScoreInput) ([]float64, error) {
		s := make([]float64, len(in.Weights))
		for i, w := range in.Weights {
			s[i] = math.Abs(w)
		}
		return s, nil
	})
	rng := rand.New(rand.NewPCG(3, 4))
	tests := []struct {
		name    string
		cfg     Config
		amounts []Amount
	}{
		{"layerwise", Config{}, []Amount{Sparsity(0.37)}},
		{"global", Config{Allocation: Global{}}, []Amount{Sparsity(0.61)}},
		{"global iterative", Config{Allocation: Global{}}, []Amount{FractionOfRemaining(0.3), FractionOfRemaining(0.3)}},
		{"erk", Config{Allocation: ERK{}}, []Amount{Sparsity(0.7)}},
		{"per layer", Config{Allocation: PerLayer{Amounts: map[string]float64{"/b/**": 0.9}}}, []Amount{Sparsity(0.2)}},
		{"min keep binds", Config{Allocation: Global{}, MinKeep: 30}, []Amount{Sparsity(0.9)}},
		{"regrow", Config{Allocation: Global{}, Regrow: true}, []Amount{Sparsity(0.5), Sparsity(0.3)}},
		{"l2 norm", Config{Criterion: LnNormCriterion{P: 2}}, []Amount{Sparsity(0.5)}},
	}
	for _, ties := range []bool{false, true} {
		specs := []layerSpec{
			{"/a/dense/weights", []int{20, 30}, randomWeights(rng, 600, ties)},
			{"/b/dense/weights", []int{30, 4}, randomWeights(rng, 120, ties)},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				fast, general := contextWith(t, specs...), contextWith(t, specs...)
				slowCfg := tc.cfg
				slowCfg.Criterion = abs
				for _, a := range tc.amounts {
					r1, err := PruneOnce(fast, tc.cfg, a)
					if err != nil {
						t.Fatal(err)
					}
					r2, err := PruneOnce(general, slowCfg, a)
					if err != nil {
						t.Fatal(err)
					}
					r2.Criterion = r1.Criterion
					if diff := gocmp.Diff(r2, r1); diff != "" {
						t.Errorf("ties=%v, %v: results differ (-general +fast):\n%s", ties, a, diff)
					}
				}
				if diff := gocmp.Diff(masksAsBits(t, general), masksAsBits(t, fast)); diff != "" {
					t.Errorf("ties=%v: masks differ (-general +fast):\n%s", ties, diff)
				}
			})
		}
	}
}

// TestNonFiniteWeightsAndScores: NaN or infinite weights or scores are an error naming the
// variable and the index, on both paths, and nothing changes.
func TestNonFiniteWeightsAndScores(t *testing.T) {
	nan := float32(math.NaN())
	inf := float32(math.Inf(1))
	custom := NewCriterion("custom", func(in *ScoreInput) ([]float64, error) {
		s := make([]float64, len(in.Weights))
		for i, w := range in.Weights {
			s[i] = math.Abs(w)
		}
		return s, nil
	})
	infScores := NewCriterion("inf", func(in *ScoreInput) ([]float64, error) {
		s := make([]float64, len(in.Weights))
		s[3] = math.Inf(-1)
		return s, nil
	})
	tests := []struct {
		name   string
		values []float32
		cfg    Config
		want   string
	}{
		{"NaN weight, magnitude", []float32{1, 2, nan, 4}, Config{}, "/a/dense/weights: weight 2 is NaN"},
		{"Inf weight, global", []float32{1, 2, 3, -inf}, Config{Allocation: Global{}}, "weight 3 is -Inf"},
		{"NaN weight, custom criterion", []float32{nan, 2, 3, 4}, Config{Criterion: custom}, "weight 0 is NaN"},
		{"NaN weight, neurons", []float32{1, inf, 3, 4}, Config{Structure: OutputChannels{}}, "weight 1 is +Inf"},
		{"Inf score", []float32{1, 2, 3, 4}, Config{Criterion: infScores}, "criterion inf gave score -Inf to weight 3"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := contextWith(t, layerSpec{"/a/dense/weights", []int{2, 2}, tc.values})
			before := masksAsBits(t, ctx)
			_, err := PruneOnce(ctx, tc.cfg, Sparsity(0.5))
			if !errors.Is(err, ErrNotFinite) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want ErrNotFinite mentioning %q", err, tc.want)
			}
			if diff := gocmp.Diff(before, masksAsBits(t, ctx)); diff != "" {
				t.Errorf("masks changed:\n%s", diff)
			}
		})
	}
}

// TestTorchTopKEdgeCases checks the libstdc++ emulation on small inputs against a reference:
// whatever the tie-breaking, the selection holds the k smallest (largest) values.
func TestTorchTopKEdgeCases(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for trial := range 500 {
		n := 1 + rng.IntN(300)
		vals := make([]float64, n)
		for i := range vals {
			vals[i] = float64(rng.IntN(1 + trial%20))
		}
		k := 1 + rng.IntN(n)
		for _, largest := range []bool{false, true} {
			got := torchTopK(vals, k, largest)
			if len(got) != k {
				t.Fatalf("n=%d k=%d: %d selected", n, k, len(got))
			}
			sorted := slices.Clone(vals)
			slices.Sort(sorted)
			if largest {
				slices.Reverse(sorted)
			}
			sel := make([]float64, k)
			seen := map[int]bool{}
			for j, i := range got {
				if seen[i] {
					t.Fatalf("n=%d k=%d: position %d selected twice", n, k, i)
				}
				seen[i] = true
				sel[j] = vals[i]
			}
			slices.Sort(sel)
			want := slices.Clone(sorted[:k])
			slices.Sort(want)
			if !slices.Equal(sel, want) {
				t.Fatalf("n=%d k=%d largest=%v: selected values %v, want %v", n, k, largest, sel, want)
			}
		}
	}
}
