package experiment

import (
	"fmt"
	"math"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/prunelab/prunelab/backend"
	"github.com/prunelab/prunelab/lm"
	"github.com/prunelab/prunelab/models"
	"github.com/prunelab/prunelab/program"
	"github.com/prunelab/prunelab/textdata"
)

// TestGPTHeadsAndBlocksRemoved is the gpt-tiny half of the physical removal checks (vit-tiny's are
// TestHeadImportanceAndMasking, TestPruneHeadsPolynomial and oneshot's TestBlockInfluenceAndRemoval):
// on a briefly trained gpt-tiny, 25% and 50% of the heads masked by their gates, then removed
// (RemoveHeads into a configuration with BlockHeads), and a block masked by its gate, then removed
// (WithoutBlocks), give the masked model's logits within 1e-5, with the parameters of what went
// gone from the traced program.
func TestGPTHeadsAndBlocksRemoved(t *testing.T) {
	corpus, err := textdata.GoSource(textdata.GoSourceOptions{Max: textdata.Limits{Train: 256 << 10, Validation: 1, Test: 1}})
	if err != nil {
		t.Skipf("Go source tree: %v", err)
	}
	cfg := models.GPTTiny
	trained, err := lm.Train(lm.Config{Model: lm.GPT("gpt-tiny", cfg), Train: corpus.Train, Steps: 15, BatchSize: 8,
		LearningRate: 3e-3, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	b, err := backend.Default()
	if err != nil {
		t.Fatal(err)
	}
	ctx := trained.Context
	p, err := program.Trace(b, ctx, cfg.Build, shapes.Make(dtypes.Float32, cfg.Context))
	if err != nil {
		t.Fatal(err)
	}
	values, err := p.Values(ctx)
	if err != nil {
		t.Fatal(err)
	}
	windows, err := textdata.NewWindows(corpus.Train, cfg.Context, 7)
	if err != nil {
		t.Fatal(err)
	}
	x := lm.Inputs(windows.Next(4), cfg.Context)
	logits := func(p *program.Program, values map[string][]float32) []float32 {
		t.Helper()
		c, err := p.NewContext(values)
		if err != nil {
			t.Fatal(err)
		}
		out, err := p.Run(b, c, x)
		if err != nil {
			t.Fatal(err)
		}
		defer out.FinalizeAll()
		return tensors.MustCopyFlatData[float32](out)
	}
	// withGates is a copy of values with the named gate entries set to 0.
	withGates := func(zero map[string][]int) map[string][]float32 {
		out := make(map[string][]float32, len(values))
		for k, v := range values {
			out[k] = v
		}
		for path, idx := range zero {
			g := append([]float32(nil), values[path]...)
			for _, i := range idx {
				g[i] = 0
			}
			out[path] = g
		}
		return out
	}
	dense := logits(p, values)
	// masked checks that the gates were read: masking changes the logits.
	masked := func(what string, zero map[string][]int) []float32 {
		t.Helper()
		for path := range zero {
			if values[path] == nil {
				t.Fatalf("%s: the traced program has no variable %s", what, path)
			}
		}
		out := logits(p, withGates(zero))
		if d := maxAbsDiff(dense, out); !(d > 1e-3) {
			t.Fatalf("%s: the masked logits are within %g of the dense ones", what, d)
		}
		return out
	}
	hd := cfg.Width / cfg.Heads
	for _, tc := range []struct {
		name  string
		heads []HeadRef // of gpt-tiny's 2 blocks × 4 heads
	}{
		{"25% of heads", []HeadRef{{gateOf(0), 1}, {gateOf(1), 3}}},
		{"50% of heads", []HeadRef{{gateOf(0), 0}, {gateOf(0), 2}, {gateOf(1), 1}, {gateOf(1), 2}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			zero := map[string][]int{}
			for _, h := range tc.heads {
				zero[h.Layer] = append(zero[h.Layer], h.Head)
			}
			want := masked(tc.name, zero)
			small, kept, err := RemoveHeads(values, tc.heads, cfg.Blocks, cfg.Heads, hd)
			if err != nil {
				t.Fatal(err)
			}
			sc := cfg
			sc.BlockHeads = kept
			sp, err := program.Trace(b, context.New(), sc.Build, shapes.Make(dtypes.Float32, cfg.Context))
			if err != nil {
				t.Fatal(err)
			}
			// Per head: q, k and v columns with their biases, output-projection rows, its gate.
			perHead := 3*(cfg.Width*hd+hd) + hd*cfg.Width + 1
			if got, want := sp.NumParams(), p.NumParams()-len(tc.heads)*perHead; got != want {
				t.Errorf("heads kept per block %v: %d parameters, want %d", kept, got, want)
			}
			d := maxAbsDiff(want, logits(sp, small))
			if d > 1e-5 {
				t.Errorf("heads removed (%v kept per block) vs masked: logits differ by %g (up to %.3g)", kept, d, maxAbs(want))
			}
			t.Logf("%v heads kept per block: logits within %.2g of the masked model's", kept, d)
		})
	}
	t.Run("1 block", func(t *testing.T) {
		for blk := range cfg.Blocks {
			want := masked(fmt.Sprint("block ", blk), map[string][]int{fmt.Sprintf("/block%d/%s", blk, models.BlockGate): {0}})
			sp, err := program.Trace(b, ctx, cfg.WithoutBlocks(blk), shapes.Make(dtypes.Float32, cfg.Context))
			if err != nil {
				t.Fatal(err)
			}
			smallValues, err := sp.Values(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if fewer, want := p.NumParams()-sp.NumParams(), blockParams(cfg); fewer != want {
				t.Errorf("without block %d: %d parameters fewer, want %d", blk, fewer, want)
			}
			if d := maxAbsDiff(want, logits(sp, smallValues)); d > 1e-5 {
				t.Errorf("block %d removed vs gated off: logits differ by %g (up to %.3g)", blk, d, maxAbs(want))
			}
		}
	})
}

// gateOf is the head-gate variable of gpt-tiny's block blk.
func gateOf(blk int) string { return fmt.Sprintf("/block%d/attn/%s", blk, models.HeadGates) }

// blockParams counts one block of a GPT configuration: two LayerNorms (gain and offset), q, k, v and
// the output projection with biases, the MLP's up and down projections with biases, the head gates
// and the block gate.
func blockParams(c models.GPTConfig) int {
	w := c.Width
	return 2*2*w + 4*(w*w+w) + (w*c.MLP + c.MLP) + (c.MLP*w + w) + c.Heads + 1
}

func maxAbs(x []float32) float64 {
	m := 0.0
	for _, v := range x {
		m = math.Max(m, math.Abs(float64(v)))
	}
	return m
}
