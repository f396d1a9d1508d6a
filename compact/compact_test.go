package compact_test

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/prunelab/prunelab/backend"
	"github.com/prunelab/prunelab/compact"
	"github.com/prunelab/prunelab/export"
	"github.com/prunelab/prunelab/models"
	"github.com/prunelab/prunelab/nn"
	"github.com/prunelab/prunelab/program"
	"github.com/prunelab/prunelab/pruning"
)

func TestMain(m *testing.M) {
	if os.Getenv(backend.EnvBackend) == "" {
		// Tests and benchmarks run on the pure-Go backend unless told otherwise
		// (scripts/device-compact.sh runs them on XLA:CUDA).
		os.Setenv(backend.EnvBackend, backend.PureGo)
	}
	os.Exit(m.Run())
}

// goBackend returns the backend GOMLX_BACKEND selects (the pure-Go one by default).
func goBackend(t testing.TB) backends.Backend {
	t.Helper()
	b, err := backend.Default()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func randomBatch(batch int, dims []int, seed uint64) *tensors.Tensor {
	rng := rand.New(rand.NewPCG(seed, 5))
	x := tensors.FromShape(shapes.Make(dtypes.Float32, append([]int{batch}, dims...)...))
	x.MutableFlatData(func(flat any) {
		for i := range flat.([]float32) {
			flat.([]float32)[i] = rng.Float32()
		}
	})
	return x
}

// modelBatch is a random batch for m: byte values for a language model (gpt-tiny), uniform in [0, 1)
// otherwise.
func modelBatch(m models.Model, batch int, seed uint64) *tensors.Tensor {
	x := randomBatch(batch, m.InputShape, seed)
	if m.Name == "gpt-tiny" {
		x.MutableFlatData(func(flat any) {
			for i, v := range flat.([]float32) {
				flat.([]float32)[i] = float32(int(v*256) % 256)
			}
		})
	}
	return x
}

// maskedModel builds m with pruning masks in a new context, gives every vector variable (biases,
// batch-norm parameters and statistics) random values so that pruned units have non-zero constant
// outputs, and returns the context.
func maskedModel(t testing.TB, b backends.Backend, m models.Model) *context.Context {
	t.Helper()
	ctx := context.New()
	ctx.SetParam(context.ParamInitialSeed, int64(11))
	fn := pruning.WrapModelFn(pruning.ModelFn(m.Build), pruning.Selector{})
	exec := context.MustNewExec(b, ctx, func(ctx *context.Context, x *graph.Node) *graph.Node { return fn(ctx, x) })
	exec.MustExec(randomBatch(1, m.InputShape, 1))
	rng := rand.New(rand.NewPCG(2, 2))
	for v := range ctx.IterVariables() {
		if v.Shape().Rank() != 1 || strings.HasPrefix(v.ScopeAndName(), pruning.Scope) {
			continue
		}
		vals := make([]float32, v.Shape().Size())
		for i := range vals {
			vals[i] = float32(rng.NormFloat64() * 0.1)
			if v.Name() == "variance" || v.Name() == "scale" {
				vals[i] = 0.8 + 0.4*rng.Float32()
			}
		}
		v.MustSetValue(tensors.FromFlatDataAndDimensions(vals, len(vals)))
	}
	return ctx
}

// trace returns the program of m and its values from ctx.
func trace(t testing.TB, b backends.Backend, ctx *context.Context, m models.Model) (*program.Program, map[string][]float32) {
	t.Helper()
	p, err := program.Trace(b, ctx, m.Build, shapes.Make(dtypes.Float32, m.InputShape...))
	if err != nil {
		t.Fatal(err)
	}
	values, err := p.Values(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return p, values
}

func run(t testing.TB, b backends.Backend, p *program.Program, values map[string][]float32, x *tensors.Tensor) []float32 {
	t.Helper()
	ctx, err := p.NewContext(values)
	if err != nil {
		t.Fatal(err)
	}
	out, err := p.Run(b, ctx, x)
	if err != nil {
		t.Fatal(err)
	}
	return tensors.MustCopyFlatData[float32](out)
}

func maxDiff(a, b []float32) float64 {
	d := 0.0
	for i := range a {
		d = math.Max(d, math.Abs(float64(a[i]-b[i])))
	}
	return d
}

// TestCompactMatchesMasked prunes output channels (neurons, filters) layer by layer and checks that
// the compacted model computes what the masked one does, within 1e-5, and survives a save and reload.
func TestCompactMatchesMasked(t *testing.T) {
	b := goBackend(t)
	for _, name := range []string{"lenet-300-100", "lenet-5", "conv-4", "resnet-20"} {
		m, err := models.ByName(name)
		if err != nil {
			t.Skipf("%s not registered yet", name)
		}
		for _, sparsity := range []float64{0.3, 0.5, 0.7} {
			t.Run(name+"/"+fmtPercent(sparsity), func(t *testing.T) {
				ctx := maskedModel(t, b, m)
				if _, err := pruning.PruneOnce(ctx, pruning.Config{Structure: pruning.OutputChannels{}}, pruning.Sparsity(sparsity)); err != nil {
					t.Fatal(err)
				}
				p, values := trace(t, b, ctx, m)
				res, err := compact.Compact(b, p, values, compact.Options{})
				if err != nil {
					t.Fatal(err)
				}
				rep := res.Report
				if rep.RemovedChannels == 0 || rep.ParamsAfter >= rep.ParamsBefore || rep.MACsAfter >= rep.MACsBefore {
					t.Errorf("nothing removed: %+v", rep)
				}
				x := randomBatch(4, m.InputShape, 3)
				want := run(t, b, p, values, x)
				got := run(t, b, res.Program, res.Values, x)
				if d := maxDiff(want, got); d > 1e-5 {
					t.Errorf("compacted outputs differ from the masked model's by %g", d)
				}
				// Save and reload the smaller model.
				var buf bytes.Buffer
				if _, err := export.Write(&buf, res.Program, res.Values, export.Options{}); err != nil {
					t.Fatal(err)
				}
				loaded, err := export.Read(&buf, export.ReadOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if d := maxDiff(want, run(t, b, loaded.Program, loaded.Values, x)); d > 1e-5 {
					t.Errorf("reloaded compacted model differs by %g", d)
				}
				t.Logf("%s at %.0f%%: %d of %d channels removed (%d frozen), params %d -> %d, MACs %d -> %d (%.2fx), %d compensations, diff %.2g (outputs up to %.3g)",
					name, 100*sparsity, rep.RemovedChannels, rep.Channels, rep.FrozenChannels, rep.ParamsBefore, rep.ParamsAfter,
					rep.MACsBefore, rep.MACsAfter, rep.Speedup, len(rep.Compensations), maxDiff(want, got), maxAbs(want))
			})
		}
	}
}

func fmtPercent(s float64) string { return fmt.Sprintf("%.0f%%", 100*s) }

func maxAbs(a []float32) float64 {
	m := 0.0
	for _, v := range a {
		m = math.Max(m, math.Abs(float64(v)))
	}
	return m
}

func TestCompactErrors(t *testing.T) {
	b := goBackend(t)
	m, _ := models.ByName("lenet-300-100")
	ctx := maskedModel(t, b, m)
	p, values := trace(t, b, ctx, m)
	// A mask removing every unit of fc1.
	clear(values["/fc1/dense/weights"])
	if _, err := compact.Compact(b, p, values, compact.Options{}); !errors.Is(err, compact.ErrEmptyLayer) ||
		!strings.Contains(err.Error(), "fc1") {
		t.Errorf("Compact(fc1 all pruned) error = %v, want ErrEmptyLayer naming fc1", err)
	}
	// An operation compaction does not understand.
	bad := p.Clone()
	bad.Ops = append(bad.Ops, program.Op{Type: "Frobnicate", Inputs: []int{bad.Output}, DType: dtypes.Float32,
		Dims: bad.Ops[bad.Output].Dims})
	bad.Output = len(bad.Ops) - 1
	if _, err := compact.Compact(b, bad, values, compact.Options{}); err == nil || !errors.Is(err, program.ErrUnsupportedOp) {
		t.Errorf("Compact(unknown op) error = %v, want ErrUnsupportedOp", err)
	}
}

// TestGroupMasks prunes coupled channels together (DepGraph-style): in ResNet-20 the residual
// streams' channels go with every layer that adds to them, so compaction can remove them. The
// compacted programs also run folded (program.Fold), as the benchmark runs them.
func TestGroupMasks(t *testing.T) {
	b := goBackend(t)
	for _, name := range []string{"lenet-300-100", "resnet-20"} {
		m, err := models.ByName(name)
		if err != nil {
			t.Skipf("%s not registered yet", name)
		}
		for _, sparsity := range []float64{0.3, 0.5, 0.7} {
			t.Run(name+"/"+fmtPercent(sparsity), func(t *testing.T) {
				ctx := maskedModel(t, b, m)
				p, values := trace(t, b, ctx, m)
				masks, err := compact.GroupMasks(p, values, sparsity)
				if err != nil {
					t.Fatal(err)
				}
				if err := pruning.SetMasks(ctx, masks); err != nil {
					t.Fatal(err)
				}
				p, values = trace(t, b, ctx, m)
				res, err := compact.Compact(b, p, values, compact.Options{})
				if err != nil {
					t.Fatal(err)
				}
				rep := res.Report
				removable := rep.Channels - rep.FrozenChannels
				if got := float64(rep.RemovedChannels) / float64(removable); math.Abs(got-sparsity) > 0.05 {
					t.Errorf("removed %d of %d removable channels (%.2f), want about %.2f", rep.RemovedChannels, removable, got, sparsity)
				}
				x := randomBatch(4, m.InputShape, 3)
				masked, compacted := run(t, b, p, values, x), run(t, b, res.Program, res.Values, x)
				if d := maxDiff(masked, compacted); d > 1e-5 {
					t.Errorf("compacted outputs differ from the masked model's by %g", d)
				}
				// Folded for inference (batch-norm scales in the weights, compensation terms
				// expanded once and merged with the shifts), the same up to rounding.
				fp, fv, err := program.Fold(b, res.Program, res.Values)
				if err != nil {
					t.Fatal(err)
				}
				if d := maxDiff(compacted, run(t, b, fp, fv, x)); d > 1e-5 {
					t.Errorf("folded compacted outputs differ by %g", d)
				}
				t.Logf("%s group-pruned %.0f%%: %d of %d channels removed, params %d -> %d, MACs %.2fx fewer",
					name, 100*sparsity, rep.RemovedChannels, rep.Channels, rep.ParamsBefore, rep.ParamsAfter, rep.Speedup)
			})
		}
	}
}

func TestChannelsCoupleResidualStreams(t *testing.T) {
	m, err := models.ByName("resnet-20")
	if err != nil {
		t.Skip("resnet-20 not registered yet")
	}
	b := goBackend(t)
	p, err := program.Trace(b, context.New(), m.Build, shapes.Make(dtypes.Float32, m.InputShape...))
	if err != nil {
		t.Fatal(err)
	}
	chans, err := compact.Channels(p)
	if err != nil {
		t.Fatal(err)
	}
	// Channel 0 of the first stage's residual stream is produced by the stem and by the second
	// convolution of each of the 9 blocks (option-A shortcuts pad stage 1's 16 channels into
	// stages 2 and 3).
	for _, c := range chans {
		if c.Producers[0].Var == "/conv0/conv/weights" && c.Producers[0].Index == 0 {
			if len(c.Producers) != 10 {
				var names []string
				for _, u := range c.Producers {
					names = append(names, u.Var)
				}
				t.Errorf("stem channel 0 has %d producers, want 10: %v", len(c.Producers), names)
			}
			return
		}
	}
	t.Error("no channel produced by the stem")
}

// TestCompactNativeOps compacts models traced with GoMLX's native convolutions and poolings
// (ConvGeneral, ReduceWindow: what models use on XLA) instead of package nn's patches.
func TestCompactNativeOps(t *testing.T) {
	b := goBackend(t)
	for _, name := range []string{"lenet-5"} {
		m, err := models.ByName(name)
		if err != nil {
			t.Skipf("%s not registered yet", name)
		}
		ctx := context.New()
		ctx.SetParam(nn.ParamImpl, string(nn.Native))
		ctx.SetParam(context.ParamInitialSeed, int64(11))
		fn := pruning.WrapModelFn(pruning.ModelFn(m.Build), pruning.Selector{})
		context.MustNewExec(b, ctx, func(ctx *context.Context, x *graph.Node) *graph.Node { return fn(ctx, x) }).
			MustExec(randomBatch(1, m.InputShape, 1))
		for _, v := range []string{"/conv0/conv/biases", "/conv1/conv/biases", "/fc0/dense/biases"} {
			scope, vname := context.SplitScope(v)
			w := ctx.GetVariableByScopeAndName(scope, vname)
			vals := make([]float32, w.Shape().Size())
			for i := range vals {
				vals[i] = 0.05 * float32(i%7-2)
			}
			w.MustSetValue(tensors.FromFlatDataAndDimensions(vals, len(vals)))
		}
		if _, err := pruning.PruneOnce(ctx, pruning.Config{Structure: pruning.OutputChannels{}}, pruning.Sparsity(0.5)); err != nil {
			t.Fatal(err)
		}
		p, values := trace(t, b, ctx, m)
		native := false
		for _, op := range p.Ops {
			native = native || op.Type == "ConvGeneral"
		}
		if !native {
			t.Fatal("the program has no ConvGeneral: nn.ParamImpl was not honored")
		}
		res, err := compact.Compact(b, p, values, compact.Options{})
		if err != nil {
			t.Fatal(err)
		}
		x := randomBatch(2, m.InputShape, 3)
		if d := maxDiff(run(t, b, p, values, x), run(t, b, res.Program, res.Values, x)); d > 1e-5 {
			t.Errorf("compacted outputs differ by %g", d)
		}
		if res.Report.RemovedChannels == 0 {
			t.Errorf("nothing removed: %+v", res.Report)
		}
	}
}

// TestCompactTransformerMLPNeurons removes MLP hidden neurons of vit-tiny and gpt-tiny (the
// up-projection's outputs and the down-projection's inputs together, GELU of the removed neurons'
// biases compensated) at 30% and 50%: the compacted transformer computes what the masked one does,
// within 1e-5. (Attention heads: TestCompactTransformerHeads.)
func TestCompactTransformerMLPNeurons(t *testing.T) {
	b := goBackend(t)
	for _, tc := range []struct {
		model              string
		blocks, width, mlp int
	}{{"vit-tiny", 4, 64, 128}, {"gpt-tiny", 2, 64, 256}} {
		m, err := models.ByName(tc.model)
		if err != nil {
			t.Fatal(err)
		}
		for _, sparsity := range []float64{0.3, 0.5} {
			t.Run(tc.model+"/"+fmtPercent(sparsity), func(t *testing.T) {
				ctx := maskedModel(t, b, m)
				cfg := pruning.Config{Structure: pruning.OutputChannels{}, Allocation: pruning.LayerWise{},
					Skip: []string{"/head/**", "/block*/attn/**", "/block*/mlp/down/**"}}
				if tc.model == "vit-tiny" {
					cfg.Skip = append(cfg.Skip, "/embed/**")
				}
				if _, err := pruning.PruneOnce(ctx, cfg, pruning.Sparsity(sparsity)); err != nil {
					t.Fatal(err)
				}
				p, values := trace(t, b, ctx, m)
				res, err := compact.Compact(b, p, values, compact.Options{})
				if err != nil {
					t.Fatal(err)
				}
				kept := tc.mlp - int(math.RoundToEven(float64(tc.mlp)*sparsity))
				shapes := map[string]string{}
				for _, l := range res.Report.Layers {
					shapes[l.Var] = fmt.Sprint(l.After)
				}
				for blk := range tc.blocks {
					up, down := fmt.Sprintf("/block%d/mlp/up/dense/weights", blk), fmt.Sprintf("/block%d/mlp/down/dense/weights", blk)
					if shapes[up] != fmt.Sprint([]int{tc.width, kept}) || shapes[down] != fmt.Sprint([]int{kept, tc.width}) {
						t.Errorf("block %d: up %s, down %s; want %d neurons kept", blk, shapes[up], shapes[down], kept)
					}
				}
				x := modelBatch(m, 4, 3)
				want := run(t, b, p, values, x)
				if d := maxDiff(want, run(t, b, res.Program, res.Values, x)); d > 1e-5 {
					t.Errorf("compacted outputs differ from the masked model's by %g (outputs up to %.3g)", d, maxAbs(want))
				}
				t.Logf("MACs %d -> %d (%.2fx)", res.Report.MACsBefore, res.Report.MACsAfter, res.Report.Speedup)
			})
		}
	}
}

// TestGroupMasksRounded: every family keeps a multiple of roundTo channels, the nearest to what the
// sparsity keeps (LeNet-300-100 at 30%: 210 of 300 → 208, 70 of 100 → 72), and compaction gives
// layers of those widths.
func TestGroupMasksRounded(t *testing.T) {
	b := goBackend(t)
	m, err := models.ByName("lenet-300-100")
	if err != nil {
		t.Fatal(err)
	}
	ctx := maskedModel(t, b, m)
	p, values := trace(t, b, ctx, m)
	masks, err := compact.GroupMasksRounded(p, values, 0.3, 8)
	if err != nil {
		t.Fatal(err)
	}
	kept := map[string]int{}
	for path, mask := range masks {
		kept[path] = mask.NumKept() / (mask.Size() / mask.Shape[len(mask.Shape)-1])
	}
	want := map[string]int{"/fc0/dense/weights": 208, "/fc1/dense/weights": 72}
	for path, n := range want {
		if kept[path] != n {
			t.Errorf("%s keeps %d units, want %d", path, kept[path], n)
		}
	}
	if _, err := compact.GroupMasksRounded(p, values, 0.3, 0); !errors.Is(err, pruning.ErrInvalidAmount) {
		t.Errorf("round to 0: %v", err)
	}
}
