package pruning

import (
	"math/rand/v2"
	"os"
	"testing"

	prunelabbackend "github.com/prunelab/prunelab/backend"

	"github.com/gomlx/gomlx/backends"
	_ "github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/layers"
	"github.com/gomlx/gomlx/pkg/ml/layers/activations"
	"github.com/gomlx/gomlx/pkg/ml/train"
	"github.com/gomlx/gomlx/pkg/ml/train/losses"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"
)

var testBackend backends.Backend

// backend returns the shared test backend: the pure-Go one with Prunelab's kernels, or
// $PRUNING_TEST_BACKEND (e.g. "xla:cuda" with -tags xla).
func backend(t testing.TB) backends.Backend {
	t.Helper()
	if testBackend == nil {
		var b backends.Backend
		var err error
		if config := os.Getenv("PRUNING_TEST_BACKEND"); config != "" {
			b, err = backends.NewWithConfig(config)
		} else {
			b, err = prunelabbackend.NewPureGo()
		}
		if err != nil {
			t.Fatalf("backend: %v", err)
		}
		testBackend = b
	}
	return testBackend
}

const (
	blobFeatures = 8
	blobClasses  = 3
)

// mlp is a tiny MLP: 8 -> 16 -> 3, variables in fc0/dense and fc1/dense.
func mlp(ctx *context.Context, x *graph.Node) *graph.Node {
	x = layers.Dense(ctx.In("fc0"), x, true, 16)
	x = activations.Relu(x)
	return layers.Dense(ctx.In("fc1"), x, true, blobClasses)
}

// convNet is a tiny conv net on [batch, 6, 6, 2] images: conv 3x3x2->4 (4x4 out), conv 3x3x4->6
// (2x2 out), dense 24 -> 3.
func convNet(ctx *context.Context, x *graph.Node) *graph.Node {
	x = layers.Convolution(ctx.In("c0"), x).Channels(4).KernelSize(3).Done()
	x = activations.Relu(x)
	x = layers.Convolution(ctx.In("c1"), x).Channels(6).KernelSize(3).Done()
	x = activations.Relu(x)
	x = graph.Reshape(x, x.Shape().Dimensions[0], -1)
	return layers.Dense(ctx.In("out"), x, true, blobClasses)
}

// blobs is a deterministic, linearly separable 3-class problem in 8 dimensions.
type blobs struct {
	x [][]float32
	y []int32
}

func newBlobs(n int, seed uint64) *blobs {
	rng := rand.New(rand.NewPCG(seed, 7))
	centers := make([][]float32, blobClasses)
	crng := rand.New(rand.NewPCG(1, 2)) // same centers for every seed
	for c := range centers {
		centers[c] = make([]float32, blobFeatures)
		for j := range centers[c] {
			centers[c][j] = float32(crng.NormFloat64() * 2)
		}
	}
	b := &blobs{}
	for i := range n {
		c := i % blobClasses
		row := make([]float32, blobFeatures)
		for j := range row {
			row[j] = centers[c][j] + float32(rng.NormFloat64()*0.5)
		}
		b.x = append(b.x, row)
		b.y = append(b.y, int32(c))
	}
	return b
}

func (b *blobs) inputs() *tensors.Tensor { return tensors.FromValue(b.x) }

func (b *blobs) labels() *tensors.Tensor {
	l := make([][]int32, len(b.y))
	for i, y := range b.y {
		l[i] = []int32{y}
	}
	return tensors.FromValue(l)
}

// fullBatch is a train.Dataset yielding the whole blobs set as every batch.
type fullBatch struct{ b *blobs }

func (d fullBatch) Name() string { return "blobs" }
func (d fullBatch) Reset()       {}
func (d fullBatch) Yield() (any, []*tensors.Tensor, []*tensors.Tensor, error) {
	return nil, []*tensors.Tensor{d.b.inputs()}, []*tensors.Tensor{d.b.labels()}, nil
}

// newContext returns a context with a fixed initialization seed.
func newContext() *context.Context {
	ctx := context.New()
	ctx.SetParam(context.ParamInitialSeed, int64(42))
	return ctx
}

// newTrainer builds an Adam trainer for the masked MLP.
func newTrainer(t testing.TB, ctx *context.Context, fn ModelFn, sel Selector) *train.Trainer {
	t.Helper()
	return train.NewTrainer(backend(t), ctx, WrapTrainModelFn(AsTrainModelFn(fn), sel),
		losses.SparseCategoricalCrossEntropyLogits, optimizers.Adam().LearningRate(0.01).Done(), nil, nil)
}

// trainSteps runs n full-batch training steps.
func trainSteps(t testing.TB, tr *train.Trainer, b *blobs, n int) {
	t.Helper()
	for range n {
		if _, err := tr.TrainStep(nil, []*tensors.Tensor{b.inputs()}, []*tensors.Tensor{b.labels()}); err != nil {
			t.Fatalf("TrainStep: %v", err)
		}
	}
}

// accuracy evaluates fn on b.
func accuracy(t testing.TB, ctx *context.Context, fn ModelFn, b *blobs) float64 {
	t.Helper()
	exec, err := context.NewExec(backend(t), ctx.Reuse(), func(ctx *context.Context, x *graph.Node) *graph.Node {
		return graph.ArgMax(fn(ctx, x), -1)
	})
	if err != nil {
		t.Fatalf("NewExec: %v", err)
	}
	out, err := exec.Exec(b.inputs())
	if err != nil {
		t.Fatalf("Exec: %v", err)
	}
	pred := tensors.MustCopyFlatData[int32](out[0])
	correct := 0
	for i, p := range pred {
		if p == b.y[i] {
			correct++
		}
	}
	return float64(correct) / float64(len(pred))
}

// weightsOf returns a variable's values.
func weightsOf(t testing.TB, ctx *context.Context, path string) []float64 {
	t.Helper()
	scope, name := context.SplitScope(path)
	v := ctx.GetVariableByScopeAndName(scope, name)
	if v == nil {
		t.Fatalf("no variable %s", path)
	}
	w, err := variableFloats(v)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// countPrunedNonZero counts weights that are masked but not exactly zero.
func countPrunedNonZero(t testing.TB, ctx *context.Context) (pruned, nonZero int) {
	t.Helper()
	masks, err := GetMasks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for p, m := range masks {
		w := weightsOf(t, ctx, p)
		for i, k := range m.Keep {
			if !k {
				pruned++
				if w[i] != 0 {
					nonZero++
				}
			}
		}
	}
	return
}

// newTrainerUnwrapped builds an Adam trainer for the MLP without masking.
func newTrainerUnwrapped(t testing.TB, ctx *context.Context) *train.Trainer {
	t.Helper()
	return train.NewTrainer(backend(t), ctx, AsTrainModelFn(mlp),
		losses.SparseCategoricalCrossEntropyLogits, optimizers.Adam().LearningRate(0.01).Done(), nil, nil)
}

func shapeOf(dims ...int) shapes.Shape { return shapes.Make(dtypes.Float32, dims...) }
