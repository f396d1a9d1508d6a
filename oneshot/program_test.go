package oneshot_test

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/prunelab/prunelab/datasets"
	"github.com/prunelab/prunelab/distill"
	"github.com/prunelab/prunelab/models"
	"github.com/prunelab/prunelab/oneshot"
	"github.com/prunelab/prunelab/program"
	"github.com/prunelab/prunelab/training"
)

// trainedProgram trains the named model briefly on MNIST and returns it traced, with its values,
// 64 calibration images and the backend.
func trainedProgram(t *testing.T, name string, steps int) (*training.Session, *program.Program, map[string][]float32, *tensors.Tensor) {
	t.Helper()
	data, err := datasets.Load("mnist", datasets.Options{})
	if err != nil {
		t.Skipf("MNIST unavailable here: %v", err)
	}
	m, err := models.ByName(name)
	if err != nil {
		t.Fatal(err)
	}
	s, err := training.NewSession(training.Config{Model: m, Seed: 1, BatchSize: 30})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetTrainData(data.Train.Subset(600)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Train(training.Length{Steps: steps}); err != nil {
		t.Fatal(err)
	}
	p, err := program.Trace(s.Backend(), s.Context(), m.Build, shapes.Make(dtypes.Float32, m.InputShape...))
	if err != nil {
		t.Fatal(err)
	}
	values, err := p.Values(s.Context())
	if err != nil {
		t.Fatal(err)
	}
	calib, err := distill.Inputs(data.Train, 64, s.Config().Normalization)
	if err != nil {
		t.Fatal(err)
	}
	return s, p, values, calib
}

// TestPruneProgram prunes a briefly trained LeNet-300-100 layer by layer with each method: every
// pruned layer has the pattern's sparsity (its mask exactly), the skipped one none, the values passed in are left
// alone, and on each layer SparseGPT's output error (its inputs coming through the layers pruned
// before it) is below Wanda's and magnitude's.
func TestPruneProgram(t *testing.T) {
	s, p, values, calib := trainedProgram(t, "lenet-300-100", 20)
	before := values["/fc0/dense/weights"][7]
	errs := map[string][]float64{}
	for _, method := range oneshot.Methods {
		for _, pattern := range []oneshot.Pattern{oneshot.Unstructured(0.5), oneshot.NM(2, 4)} {
			pruned, masks, layers, err := oneshot.PruneProgram(s.Backend(), p, values, calib, oneshot.ProgramOptions{
				Method: method, Pattern: pattern, Skip: func(path string) bool { return strings.HasPrefix(path, "/fc2/") }})
			if err != nil {
				t.Fatalf("%s %s: %v", method, pattern, err)
			}
			if len(layers) != 2 || len(masks) != 2 {
				t.Fatalf("%s %s: layers %+v, want fc0 and fc1 (fc2 skipped)", method, pattern, layers)
			}
			for _, l := range layers {
				// SparseGPT also zeroes the kept weights of inputs that are always zero (MNIST's border
				// pixels), as the official code does: more zeros than the mask prunes.
				if l.Sparsity < 0.5 || (method != "sparsegpt" && l.Sparsity > 0.5) || l.Rows != 64 {
					t.Errorf("%s %s: %+v, want sparsity 0.5 from 64 rows", method, pattern, l)
				}
				kept := 0
				for _, k := range masks[l.Path] {
					if k {
						kept++
					}
				}
				if kept != l.In*l.Out/2 {
					t.Errorf("%s %s %s: %d kept of %d", method, pattern, l.Path, kept, l.In*l.Out)
				}
				if pattern.IsNM() {
					errs[method] = append(errs[method], l.RelativeError)
				}
			}
			for i, v := range pruned["/fc2/dense/weights"] {
				if v != values["/fc2/dense/weights"][i] {
					t.Fatalf("%s: the skipped layer changed", method)
				}
			}
		}
	}
	if values["/fc0/dense/weights"][7] != before {
		t.Error("PruneProgram changed the values it was given")
	}
	for i := range errs["sparsegpt"] {
		if !(errs["sparsegpt"][i] < errs["wanda"][i] && errs["sparsegpt"][i] < errs["magnitude"][i]) {
			t.Errorf("layer %d, 2:4: relative errors sparsegpt %.4f, wanda %.4f, magnitude %.4f; want sparsegpt lowest", i,
				errs["sparsegpt"][i], errs["wanda"][i], errs["magnitude"][i])
		}
	}
}

// TestPruneProgramViT: q, k and v read the same rows (statistics computed once for the three),
// every linear layer of the transformer is pruned, and the errors name what is wrong.
func TestPruneProgramViT(t *testing.T) {
	s, p, values, calib := trainedProgram(t, "vit-tiny", 5)
	_, _, layers, err := oneshot.PruneProgram(s.Backend(), p, values, calib, oneshot.ProgramOptions{
		Method: "wanda", Pattern: oneshot.NM(2, 4)})
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 26 {
		t.Fatalf("%d layers pruned, want 26 (embedding, 4 blocks of 6, head)", len(layers))
	}
	for _, l := range layers {
		if l.Sparsity != 0.5 || (strings.Contains(l.Path, "attn") && l.Rows != 64*49) {
			t.Errorf("%+v: want sparsity 0.5, attention layers with 64 images x 49 tokens of rows", l)
		}
	}
	empty := tensors.FromShape(shapes.Make(dtypes.Float32, 0, 28, 28, 1))
	if _, _, _, err := oneshot.PruneProgram(s.Backend(), p, values, empty, oneshot.ProgramOptions{Method: "wanda",
		Pattern: oneshot.Unstructured(0.5)}); !errors.Is(err, oneshot.ErrNoCalibration) {
		t.Errorf("no calibration images: %v, want ErrNoCalibration", err)
	}
	if _, _, _, err := oneshot.PruneProgram(s.Backend(), p, values, calib, oneshot.ProgramOptions{Method: "obs",
		Pattern: oneshot.Unstructured(0.5)}); err == nil || !strings.Contains(err.Error(), `unknown method "obs"`) {
		t.Errorf("unknown method: %v", err)
	}
	// 3:7 fits no layer: the embedding, first, has 16 inputs.
	if _, _, _, err := oneshot.PruneProgram(s.Backend(), p, values, calib, oneshot.ProgramOptions{Method: "magnitude",
		Pattern: oneshot.NM(3, 7)}); !errors.Is(err, oneshot.ErrInvalidPattern) || !strings.Contains(err.Error(), "/embed/dense/weights") {
		t.Errorf("3:7 on 16 inputs: %v, want ErrInvalidPattern naming the embedding", err)
	}
}

// TestBlockInfluenceAndRemoval ranks vit-tiny's blocks by ShortGPT's influence and removes the one
// and two least influential: the model without them computes, within 1e-5, what the model with
// their residual branches zeroed computes, and its traced program holds a block's parameters fewer
// per block removed.
func TestBlockInfluenceAndRemoval(t *testing.T) {
	s, p, _, calib := trainedProgram(t, "vit-tiny", 5)
	b, ctx, cfg := s.Backend(), s.Context(), models.ViTTiny
	bi, err := oneshot.BlockInfluence(b, ctx, cfg.Stream, calib)
	if err != nil {
		t.Fatal(err)
	}
	if len(bi) != cfg.Blocks {
		t.Fatalf("influences %v, want one per block", bi)
	}
	for i, v := range bi {
		if !(v > 0 && v < 2) {
			t.Errorf("block %d: influence %g, want in (0, 2)", i, v)
		}
	}
	x := calib
	run := func(build models.BuildFn) []float32 {
		out, err := context.NewExec(b, ctx.Reuse(), func(ctx *context.Context, x *graph.Node) *graph.Node {
			return build(ctx, x)
		})
		if err != nil {
			t.Fatal(err)
		}
		defer out.Finalize()
		res, err := out.Exec(x)
		if err != nil {
			t.Fatal(err)
		}
		return tensors.MustCopyFlatData[float32](res[0])
	}
	blockParams := 33472 + 4 + 1 // two LayerNorms, q, k, v, out, up and down with biases; 4 head gates, a block gate
	for n := 1; n <= 2; n++ {
		remove, err := oneshot.LeastInfluential(bi, n)
		if err != nil {
			t.Fatal(err)
		}
		got := run(cfg.WithoutBlocks(remove...))
		// The same blocks with their residual branches zeroed, in a copy of the values.
		values, err := p.Values(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, blk := range remove {
			for _, l := range []string{"attn/out", "mlp/down"} {
				for _, v := range []string{"weights", "biases"} {
					clear(values[fmt.Sprintf("/block%d/%s/dense/%s", blk, l, v)])
				}
			}
		}
		zeroed, err := p.NewContext(values)
		if err != nil {
			t.Fatal(err)
		}
		res, err := p.Run(b, zeroed, x)
		if err != nil {
			t.Fatal(err)
		}
		want := tensors.MustCopyFlatData[float32](res)
		d := 0.0
		for i := range want {
			d = math.Max(d, math.Abs(float64(want[i]-got[i])))
		}
		if d > 1e-5 {
			t.Errorf("without blocks %v: outputs differ from the zeroed model's by %g", remove, d)
		}
		smaller, err := program.Trace(b, ctx, cfg.WithoutBlocks(remove...), shapes.Make(dtypes.Float32, 28, 28, 1))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := smaller.NumParams(), p.NumParams()-n*blockParams; got != want {
			t.Errorf("without blocks %v: %d parameters, want %d", remove, got, want)
		}
		t.Logf("influence %.4f; removed %v: outputs within %.2g", bi, remove, d)
	}
	if _, err := oneshot.LeastInfluential(bi, 4); !errors.Is(err, oneshot.ErrInvalidOptions) {
		t.Errorf("removing all 4 blocks: %v, want ErrInvalidOptions", err)
	}
}
