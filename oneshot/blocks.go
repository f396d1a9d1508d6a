package oneshot

import (
	"fmt"
	"math"
	"slices"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// StreamFn builds a residual network up to its last block and returns its residual stream: the
// input of the first block and the output of every block, each [..., width] with the same shape
// (models.ViTConfig.Stream, models.GPTConfig.Stream).
type StreamFn func(ctx *context.Context, x *graph.Node) []*graph.Node

// BlockInfluence measures how much each block of a residual network changes its input, the
// criterion of ShortGPT (Men et al. 2024, "ShortGPT: Layers in Large Language Models are More
// Redundant Than You Expect"): BI_i = 1 − E[cos(h_i, h_{i+1})], the expectation over every
// position (token) of the calibration examples calib ([n, ...input]), h_i the stream entering
// block i. A block with low influence barely turns its input and is the first to remove. The
// variables are ctx's (a trained model); it returns one value per block, in [0, 2].
func BlockInfluence(b backends.Backend, ctx *context.Context, stream StreamFn, calib *tensors.Tensor) ([]float64, error) {
	if dims := calib.Shape().Dimensions; len(dims) == 0 || dims[0] == 0 {
		return nil, fmt.Errorf("%w: no calibration examples for block influence (shape %s)", ErrNoCalibration,
			calib.Shape())
	}
	exec, err := context.NewExec(b, ctx.Reuse(), func(ctx *context.Context, x *graph.Node) []*graph.Node {
		s := stream(ctx, x)
		out := make([]*graph.Node, len(s)-1)
		for i := range out {
			h0, h1 := s[i], s[i+1]
			dot := graph.ReduceSum(graph.Mul(h0, h1), -1)
			norms := graph.Mul(graph.Sqrt(graph.ReduceSum(graph.Square(h0), -1)), graph.Sqrt(graph.ReduceSum(graph.Square(h1), -1)))
			out[i] = graph.ReduceAllMean(graph.Div(dot, graph.Max(norms, graph.Scalar(x.Graph(), h0.DType(), 1e-12))))
		}
		return out
	})
	if err != nil {
		return nil, err
	}
	defer exec.Finalize()
	res, err := exec.Exec(calib)
	if err != nil {
		return nil, fmt.Errorf("oneshot: block influence: %w", err)
	}
	bi := make([]float64, len(res))
	for i, t := range res {
		cos, err := tensors.CopyFlatData[float32](t)
		t.FinalizeAll()
		if err != nil {
			return nil, err
		}
		bi[i] = 1 - float64(cos[0])
		if math.IsNaN(bi[i]) {
			return nil, fmt.Errorf("%w: block %d: influence is NaN", ErrNotFinite, i)
		}
	}
	return bi, nil
}

// LeastInfluential returns the n blocks of lowest influence (ties: the earlier block), in
// increasing block order: the blocks ShortGPT removes. It is an error to remove every block or
// more blocks than there are.
func LeastInfluential(bi []float64, n int) ([]int, error) {
	if n < 0 || n >= len(bi) {
		return nil, fmt.Errorf("%w: removing %d of %d blocks (at least one must stay)", ErrInvalidOptions, n, len(bi))
	}
	order := make([]int, len(bi))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		switch {
		case bi[a] < bi[b]:
			return -1
		case bi[a] > bi[b]:
			return 1
		}
		return 0
	})
	out := slices.Clone(order[:n])
	slices.Sort(out)
	return out, nil
}
