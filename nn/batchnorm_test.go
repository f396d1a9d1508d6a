package nn

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/layers/batchnorm"
)

// bnVariables returns the values of the batch-norm variables under ctx, by name.
func bnVariables(ctx *context.Context) map[string][]float64 {
	vars := map[string][]float64{}
	for v := range ctx.IterVariables() {
		if v.Shape().DType == dtypes.Float64 {
			vars[v.ScopeAndName()] = tensors.MustCopyFlatData[float64](v.MustValue())
		}
	}
	return vars
}

// TestBatchNormMatchesGoMLX runs two training steps' worth of forward passes and one inference pass
// through BatchNorm and through GoMLX's batchnorm (its pure-Go formula) on separate contexts: the
// same outputs, the same variables and the same moving averages.
func TestBatchNormMatchesGoMLX(t *testing.T) {
	dims := []int{4, 3, 3, 5}
	run := func(build func(ctx *context.Context, x *graph.Node) *graph.Node) (outs [][]float64, vars map[string][]float64) {
		ctx := context.New()
		train := context.MustNewExec(pureGo(), ctx, func(ctx *context.Context, x *graph.Node) *graph.Node {
			ctx.SetTraining(x.Graph(), true)
			return build(ctx.In("bn0"), x)
		})
		infer := context.MustNewExec(pureGo(), ctx.Reuse(), func(ctx *context.Context, x *graph.Node) *graph.Node {
			return build(ctx.In("bn0"), x)
		})
		r := rand.New(rand.NewPCG(7, 7))
		for range 2 {
			x := tensors.FromFlatDataAndDimensions(randomFloats[float64](r, size(dims)), dims...)
			outs = append(outs, tensors.MustCopyFlatData[float64](train.MustExec(x)[0]))
		}
		x := tensors.FromFlatDataAndDimensions(randomFloats[float64](r, size(dims)), dims...)
		outs = append(outs, tensors.MustCopyFlatData[float64](infer.MustExec(x)[0]))
		return outs, bnVariables(ctx)
	}
	wantOuts, wantVars := run(func(ctx *context.Context, x *graph.Node) *graph.Node {
		return batchnorm.New(ctx, x, -1).Momentum(0.9).Epsilon(1e-5).UseBackendInference(false).Done()
	})
	gotOuts, gotVars := run(func(ctx *context.Context, x *graph.Node) *graph.Node {
		return BatchNorm(ctx, x).Momentum(0.9).Epsilon(1e-5).Done()
	})
	for i, what := range []string{"training output 1", "training output 2", "inference output"} {
		closeTo(t, what, wantOuts[i], gotOuts[i], 1e-12)
	}
	if len(gotVars) != 5 || len(wantVars) != 5 {
		t.Fatalf("variables: GoMLX %v, nn %v; want scale, offset, mean, variance, avg_weight", keys(wantVars), keys(gotVars))
	}
	for name, want := range wantVars {
		got, ok := gotVars[name]
		if !ok {
			t.Errorf("variable %s missing (nn created %v)", name, keys(gotVars))
			continue
		}
		closeTo(t, name, want, got, 1e-12)
	}
}

func keys(m map[string][]float64) []string {
	var k []string
	for name := range m {
		k = append(k, name)
	}
	return k
}

// TestBatchNormTrainingGradient checks the training-mode gradient with respect to the input, scale
// and offset against central differences: it flows through the batch mean and variance, so the
// input gradient sums to zero over each channel (GoMLX's pure-Go formula stops it there).
func TestBatchNormTrainingGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	dims := []int{3, 2, 2, 3}
	x := randomFloats[float64](rng, size(dims))
	w := randomFloats[float64](rng, size(dims))
	ctx := context.New()
	ctx.SetParam(context.ParamInitialSeed, int64(1))
	wT := tensors.FromFlatDataAndDimensions(w, dims...)
	lossAndGrads := context.MustNewExec(pureGo(), ctx, func(ctx *context.Context, x, w *graph.Node) []*graph.Node {
		ctx.SetTraining(x.Graph(), true)
		loss := graph.ReduceAllSum(graph.Mul(BatchNorm(ctx, x).Done(), w))
		bn := ctx.In(batchnorm.BatchNormalizationScopeName)
		scale, offset := bn.GetVariable("scale").ValueGraph(x.Graph()), bn.GetVariable("offset").ValueGraph(x.Graph())
		return append([]*graph.Node{loss}, graph.Gradient(loss, x, scale, offset)...)
	})
	out := flat[float64](lossAndGrads.MustExec(tensors.FromFlatDataAndDimensions(x, dims...), wT))
	lossAt := func(x []float64) float64 {
		return flat[float64](lossAndGrads.MustExec(tensors.FromFlatDataAndDimensions(x, dims...), wT))[0][0]
	}
	const h = 1e-5
	for i := range x {
		orig := x[i]
		x[i] = orig + h
		plus := lossAt(x)
		x[i] = orig - h
		minus := lossAt(x)
		x[i] = orig
		if want := (plus - minus) / (2 * h); math.Abs(out[1][i]-want) > 1e-6*(1+math.Abs(want)) {
			t.Errorf("gradient wrt x[%d] = %g, numerically %g", i, out[1][i], want)
		}
	}
	channels := dims[3]
	for c := range channels {
		var sum float64
		for i := c; i < len(x); i += channels {
			sum += out[1][i]
		}
		if math.Abs(sum) > 1e-9 {
			t.Errorf("input gradient of channel %d sums to %g, want 0", c, sum)
		}
	}
	// With scale 1 and offset 0, the output is the normalized input x̂: d/dscale = Σ w·x̂, d/doffset = Σ w.
	xhat := make([]float64, len(x))
	for c := range channels {
		var mean, sq float64
		n := float64(len(x) / channels)
		for i := c; i < len(x); i += channels {
			mean += x[i] / n
		}
		for i := c; i < len(x); i += channels {
			sq += (x[i] - mean) * (x[i] - mean) / n
		}
		for i := c; i < len(x); i += channels {
			xhat[i] = (x[i] - mean) / math.Sqrt(sq+1e-3)
		}
	}
	for c := range channels {
		var dScale, dOffset float64
		for i := c; i < len(x); i += channels {
			dScale += w[i] * xhat[i]
			dOffset += w[i]
		}
		if math.Abs(out[2][c]-dScale) > 1e-9 || math.Abs(out[3][c]-dOffset) > 1e-9 {
			t.Errorf("channel %d: gradients wrt scale %g and offset %g, want %g and %g", c, out[2][c], out[3][c], dScale, dOffset)
		}
	}
}

func TestBatchNormErrors(t *testing.T) {
	panicsWith(t, context.New(), []int{5}, func(ctx *context.Context, x *graph.Node) *graph.Node {
		return BatchNorm(ctx.In("bn3"), x).Done()
	}, `"/bn3"`, "[5]")
}
