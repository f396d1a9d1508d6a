package compact_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/prunelab/prunelab/compact"
	"github.com/prunelab/prunelab/models"
)

// TestCompactTransformerHeads removes attention heads inside the traced graphs of vit-tiny and
// gpt-tiny: with the q, k and v weight columns of 25% and 50% of each block's heads zero (their
// biases random, so that a removed head still outputs a constant, its v bias, which compensation
// must add back through the output projection), compaction finds each head as one channel (the
// reshape into [heads, head features] groups a head's features), removes its q, k, v columns and
// biases, its output-projection rows and its gate, and the smaller model computes what the masked
// one does within 1e-5.
func TestCompactTransformerHeads(t *testing.T) {
	b := goBackend(t)
	const heads, hd, width = 4, 16, 64
	for _, tc := range []struct {
		model  string
		blocks int
	}{{"vit-tiny", 4}, {"gpt-tiny", 2}} {
		m, err := models.ByName(tc.model)
		if err != nil {
			t.Fatal(err)
		}
		for _, removed := range [][]int{{1}, {0, 2}} {
			t.Run(fmt.Sprintf("%s/%d of %d heads", tc.model, len(removed), heads), func(t *testing.T) {
				p, values := trace(t, b, maskedModel(t, b, m), m) // random biases and gates, masks all ones
				rng := rand.New(rand.NewPCG(9, 1))
				for blk := range tc.blocks {
					for _, l := range []string{"q", "k", "v"} {
						w := values[fmt.Sprintf("/block%d/attn/%s/dense/weights", blk, l)]
						bias := values[fmt.Sprintf("/block%d/attn/%s/dense/biases", blk, l)]
						if len(w) != width*width || len(bias) != width {
							t.Fatalf("block %d %s: %d weights, %d biases", blk, l, len(w), len(bias))
						}
						for _, h := range removed {
							for row := range width {
								clear(w[row*width+h*hd : row*width+(h+1)*hd])
							}
							for j := h * hd; j < (h+1)*hd; j++ {
								bias[j] = rng.Float32() - 0.5
							}
						}
					}
				}
				res, err := compact.Compact(b, p, values, compact.Options{})
				if err != nil {
					t.Fatal(err)
				}
				shapes := map[string]string{}
				for _, l := range res.Report.Layers {
					shapes[l.Var] = fmt.Sprint(l.After)
				}
				kept := (heads - len(removed)) * hd
				for blk := range tc.blocks {
					prefix := fmt.Sprintf("/block%d/attn/", blk)
					want := map[string][]int{"q/dense/weights": {width, kept}, "k/dense/biases": {kept},
						"v/dense/weights": {width, kept}, "out/dense/weights": {kept, width},
						models.HeadGates: {heads - len(removed)}}
					for v, dims := range want {
						if shapes[prefix+v] != fmt.Sprint(dims) {
							t.Errorf("%s%s: %s after compaction, want %v", prefix, v, shapes[prefix+v], dims)
						}
					}
				}
				x := modelBatch(m, 3, 4)
				want := run(t, b, p, values, x)
				if d := maxDiff(want, run(t, b, res.Program, res.Values, x)); d > 1e-5 {
					t.Errorf("compacted outputs differ from the masked model's by %g (outputs up to %.3g)", d, maxAbs(want))
				}
				// One compensation per block, stored once for every position: the removed heads' output
				// (their v biases) is the same at every position up to rounding.
				if got := len(res.Report.Compensations); got != tc.blocks {
					t.Errorf("%d compensations, want one per block (%d)", got, tc.blocks)
				}
				for _, v := range res.Program.Variables {
					if slices.Contains(res.Report.Compensations, v.Path) && !slices.Equal(v.Dims, []int{1, 1, width}) {
						t.Errorf("compensation %s %v, want [1 1 %d]", v.Path, v.Dims, width)
					}
				}
				t.Logf("MACs %d -> %d (%.2fx), %d -> %d parameters, frozen %v", res.Report.MACsBefore, res.Report.MACsAfter,
					res.Report.Speedup, res.Report.ParamsBefore, res.Report.ParamsAfter, res.Report.FrozenReasons)
			})
		}
	}
}
