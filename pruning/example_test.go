package pruning_test

import (
	"bytes"
	"fmt"

	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/prunelab/prunelab/pruning"
)

// A gradual schedule (Zhu & Gupta) to 90% sparsity between steps 100 and 1000.
func ExamplePolynomial() {
	s := pruning.Polynomial{Final: 0.9, Begin: 100, End: 1000, Frequency: 150}
	fmt.Println("step  sparsity")
	for _, step := range pruning.UpdateSteps(s, 0, 2000) {
		fmt.Printf("%4d  %.4f\n", step, s.SparsityAt(step))
	}
	// Output:
	// step  sparsity
	//  100  0.0000
	//  250  0.3792
	//  400  0.6333
	//  550  0.7875
	//  700  0.8667
	//  850  0.8958
	// 1000  0.9000
}

// Lottery-ticket style iterative pruning: 20% of the remaining weights per round.
func ExampleIterative() {
	s := pruning.Iterative{Start: 1000, Every: 1000, Cycles: 5, Rate: 0.2}
	fmt.Println("step  sparsity  remaining")
	for _, step := range pruning.UpdateSteps(s, 0, 10000) {
		fmt.Printf("%4d  %.4f    %.4f\n", step, s.SparsityAt(step), 1-s.SparsityAt(step))
	}
	// Output:
	// step  sparsity  remaining
	// 1000  0.2000    0.8000
	// 2000  0.3600    0.6400
	// 3000  0.4880    0.5120
	// 4000  0.5904    0.4096
	// 5000  0.6723    0.3277
}

// The criteria registry.
func ExampleCriterionByName() {
	for _, c := range pruning.Criteria() {
		fmt.Println(c.Name())
	}
	_, err := pruning.CriterionByName("magnitde")
	fmt.Println(err)
	// Output:
	// l1norm
	// l2norm
	// magnitude
	// movement
	// random
	// snip
	// taylor
	// pruning: unknown criterion "magnitde"; known: l1norm, l2norm, magnitude, movement, random, snip, taylor
}

// A report on a hand-made two-layer model, half of its first layer's weights pruned.
func ExampleNewReport() {
	ctx := context.New()
	ctx.InAbsPath("/fc0/dense").VariableWithValue("weights", [][]float32{{1, -4, 3}, {-5, 2, -6}})
	ctx.InAbsPath("/fc0/dense").VariableWithValue("biases", []float32{0.5, 0.5, 0.5})
	ctx.InAbsPath("/fc1/dense").VariableWithValue("weights", [][]float32{{1}, {2}, {3}})
	if _, err := pruning.AttachMasks(ctx, pruning.Selector{}); err != nil {
		panic(err)
	}
	if _, err := pruning.PruneOnce(ctx, pruning.Config{Skip: []string{"/fc1/**"}}, pruning.Sparsity(0.5)); err != nil {
		panic(err)
	}
	info := &pruning.ModelInfo{ // what MeasureModel finds for a dense model on vectors
		Variables: []string{"/fc0/dense/weights", "/fc0/dense/biases", "/fc1/dense/weights"},
		Positions: map[string]int64{"/fc0/dense/weights": 1, "/fc1/dense/weights": 1},
	}
	r, err := pruning.NewReport(ctx, info)
	if err != nil {
		panic(err)
	}
	fmt.Print(r)
	// Output:
	// layer                 kind   shape  params  nonzero  sparsity  dense FLOPs  effective FLOPs
	// /fc0/dense/weights *  dense  [2 3]  6       3        50.00%    6            3
	// /fc0/dense/biases     other  [3]    3       3        0.00%     0            0
	// /fc1/dense/weights *  dense  [3 1]  3       3        0.00%     3            3
	// total                               12      9        25.00%    9            6
	// masked (*): 9 params, 6 non-zero, sparsity 33.33%
	// compression 1.33x, theoretical speedup 1.50x, structured speedup 1.00x (FLOPs = MACs per example)
	// warning: unstructured sparsity: the 1.50x theoretical speedup needs sparse kernels; on dense hardware it brings none by itself (structured speedup 1.00x). Prune structures (out_channels) and compact, or use N:M (2:4) for sparse tensor cores
}

// Masks read from a context, written to a file format and compared.
func ExampleCompareMasks() {
	a := pruning.MaskSet{"/fc0/dense/weights": {Shape: []int{2, 3}, Keep: []bool{true, true, false, false, true, true}}}
	b := pruning.MaskSet{"/fc0/dense/weights": {Shape: []int{2, 3}, Keep: []bool{true, false, false, true, true, true}}}
	var buf bytes.Buffer
	if err := pruning.EncodeMasks(&buf, a); err != nil {
		panic(err)
	}
	back, err := pruning.DecodeMasks(&buf)
	if err != nil {
		panic(err)
	}
	c, err := pruning.CompareMasks(back, b)
	if err != nil {
		panic(err)
	}
	d := c.Total
	fmt.Printf("kept %d and %d, both %d, hamming %d, jaccard %.2f, overlap %.2f\n",
		d.KeptA, d.KeptB, d.KeptBoth, d.Hamming, d.Jaccard, d.Overlap)
	// Output:
	// kept 4 and 4, both 3, hamming 2, jaccard 0.60, overlap 0.75
}

// Setting a mask from Go, like torch's custom_from_mask: the pruned weights are zeroed at once.
func ExampleSetMaskFromTensor() {
	ctx := context.New()
	ctx.InAbsPath("/fc0/dense").VariableWithValue("weights", [][]float32{{1, 2}, {3, 4}})
	if _, err := pruning.AttachMasks(ctx, pruning.Selector{}); err != nil {
		panic(err)
	}
	err := pruning.SetMaskFromTensor(ctx, "/fc0/dense/weights", tensors.FromValue([][]float32{{1, 0}, {0, 1}}))
	if err != nil {
		panic(err)
	}
	fmt.Println(ctx.GetVariableByScopeAndName("/fc0/dense", "weights").MustValue().Value())
	err = pruning.SetMaskFromTensor(ctx, "/fc0/dense/weights", tensors.FromValue([][]float32{{1, 0.5}, {0, 1}}))
	fmt.Println(err)
	// Output:
	// [[1 0] [0 4]]
	// /fc0/dense/weights: pruning: invalid mask: entry 1 is 0.5, want exactly 0 or 1
}

// Four weights of magnitude 0.5 tie for three places: the default prunes the first in position
// order; TiesLikeTorch prunes those torch.nn.utils.prune.l1_unstructured(amount=0.5) prunes in
// nn.Linear(3, 2) with weight [[0.5, -0.5, 2], [0.5, 1, -0.5]], our kernel transposed.
func ExampleTies() {
	for _, ties := range []pruning.Ties{pruning.TiesByPosition, pruning.TiesLikeTorch} {
		ctx := context.New()
		ctx.InAbsPath("/fc/dense").VariableWithValue("weights", [][]float32{{0.5, 0.5}, {-0.5, 1}, {2, -0.5}})
		if _, err := pruning.AttachMasks(ctx, pruning.Selector{}); err != nil {
			panic(err)
		}
		masks, _, err := pruning.ComputeMasks(ctx, pruning.Config{Ties: ties}, pruning.Sparsity(0.5))
		if err != nil {
			panic(err)
		}
		fmt.Println(ties, masks["/fc/dense/weights"].Keep)
	}
	// Output:
	// position [false false false true true true]
	// torch [false false true true true false]
}
