package models_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/google/go-cmp/cmp"

	"github.com/prunelab/prunelab/models"
	"github.com/prunelab/prunelab/program"
)

// randomBytes returns float32 [batch, t] holding byte values.
func randomBytes(batch, t int, seed uint64) []float32 {
	rng := rand.New(rand.NewPCG(seed, 1))
	x := make([]float32, batch*t)
	for i := range x {
		x[i] = float32(rng.IntN(256))
	}
	return x
}

// runGPT runs fn (with ctx's variables, created on the first call) on x [batch, t].
func runGPT(t *testing.T, b backends.Backend, ctx *context.Context, fn models.BuildFn, x []float32, batch int) *tensors.Tensor {
	t.Helper()
	exec, err := context.NewExec(b, ctx.Checked(false), func(ctx *context.Context, x *graph.Node) *graph.Node { return fn(ctx, x) })
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Exec(tensors.FromFlatDataAndDimensions(x, batch, len(x)/batch))
	if err != nil {
		t.Fatal(err)
	}
	return out[0]
}

// TestGPTIsCausal checks that position t's logits depend on the bytes 0..t only: changing later
// bytes, or cutting them off (an input shorter than the context), leaves them as they were.
func TestGPTIsCausal(t *testing.T) {
	b := pureGoBackend(t)
	c := models.GPTConfig{Context: 16, Width: 32, Heads: 4, MLP: 64, Blocks: 2}
	ctx := context.New()
	ctx.SetParam(context.ParamInitialSeed, int64(5))
	const batch, cut = 2, 9
	x := randomBytes(batch, c.Context, 1)
	full := runGPT(t, b, ctx, c.Build, x, batch)
	if got, want := full.Shape().Dimensions, []int{batch, c.Context, 256}; !cmp.Equal(got, want) {
		t.Fatalf("logits shape %v, want %v", got, want)
	}
	changed := append([]float32(nil), x...)
	short := make([]float32, 0, batch*cut)
	for i := range batch {
		for j := cut; j < c.Context; j++ {
			changed[i*c.Context+j] = float32((int(x[i*c.Context+j]) + 1 + j) % 256)
		}
		short = append(short, x[i*c.Context:i*c.Context+cut]...)
	}
	want := tensors.MustCopyFlatData[float32](full)
	after := tensors.MustCopyFlatData[float32](runGPT(t, b, ctx, c.Build, changed, batch))
	prefix := tensors.MustCopyFlatData[float32](runGPT(t, b, ctx, c.Build, short, batch))
	moved := 0.0
	for i := range batch {
		for j := range c.Context {
			for v := range 256 {
				k := (i*c.Context+j)*256 + v
				d := math.Abs(float64(after[k] - want[k]))
				if j < cut && d > 1e-6 {
					t.Fatalf("example %d position %d byte %d: logit moved by %g when only later bytes changed", i, j, v, d)
				}
				if j >= cut {
					moved = math.Max(moved, d)
				}
				if j < cut {
					if d := math.Abs(float64(prefix[(i*cut+j)*256+v] - want[k])); d > 1e-5 {
						t.Fatalf("example %d position %d byte %d: input cut to %d bytes changes the logit by %g", i, j, v, cut, d)
					}
				}
			}
		}
	}
	if moved < 1e-4 {
		t.Errorf("changing bytes %d.. moved their own positions' logits by only %g", cut, moved)
	}
	// The registry's BuildFn is the last position.
	last := tensors.MustCopyFlatData[float32](runGPT(t, b, ctx, c.NextByte, x, batch))
	for i := range batch {
		for v := range 256 {
			if g, w := last[i*256+v], want[(i*c.Context+c.Context-1)*256+v]; g != w {
				t.Fatalf("NextByte example %d byte %d = %g, last position of Build %g", i, v, g, w)
			}
		}
	}
}

// TestGPTTrace traces gpt-tiny: the program replays the model, and every dense layer (and the
// token embedding, a one-hot times a matrix) is a multiplication by a variable's matrix, what
// one-shot pruning works on.
func TestGPTTrace(t *testing.T) {
	b := pureGoBackend(t)
	c := models.GPTTiny
	ctx := context.New()
	ctx.SetParam(context.ParamInitialSeed, int64(3))
	x := randomBytes(3, c.Context, 2)
	want := runGPT(t, b, ctx, c.Build, x, 3)
	p, err := program.Trace(b, ctx, c.Build, shapes.Make(dtypes.Float32, c.Context))
	if err != nil {
		t.Fatal(err)
	}
	got, err := p.Run(b, ctx, tensors.FromFlatDataAndDimensions(x, 3, c.Context))
	if err != nil {
		t.Fatal(err)
	}
	w, g := tensors.MustCopyFlatData[float32](want), tensors.MustCopyFlatData[float32](got)
	for i := range w {
		if d := math.Abs(float64(w[i] - g[i])); d > 1e-5 {
			t.Fatalf("replayed logit %d = %g, model %g", i, g[i], w[i])
		}
	}
	var names []string
	for _, mm := range p.MatMuls() {
		names = append(names, fmt.Sprintf("%s %dx%d", strings.TrimPrefix(mm.Var, "/"), mm.K, mm.N))
	}
	wantNames := []string{"embed/embeddings 256x64"}
	for i := range c.Blocks {
		for _, l := range []string{"attn/q", "attn/k", "attn/v", "attn/out"} {
			wantNames = append(wantNames, fmt.Sprintf("block%d/%s/dense/weights 64x64", i, l))
		}
		wantNames = append(wantNames, fmt.Sprintf("block%d/mlp/up/dense/weights 64x256", i),
			fmt.Sprintf("block%d/mlp/down/dense/weights 256x64", i))
	}
	wantNames = append(wantNames, "head/dense/weights 64x256")
	if diff := cmp.Diff(sorted(wantNames), sorted(names)); diff != "" {
		t.Errorf("matrix multiplications (-want +got):\n%s", diff)
	}
	if len(names) > 0 && names[0] != wantNames[0] || names[len(names)-1] != wantNames[len(wantNames)-1] {
		t.Errorf("program order %v: want the embedding first and the head last", names)
	}
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

func TestGPTCounts(t *testing.T) {
	b := pureGoBackend(t)
	m, err := models.ByName("gpt-tiny")
	if err != nil {
		t.Fatal(err)
	}
	if m.Params != models.GPTTiny.Params() || m.Weights != models.GPTTiny.Weights() {
		t.Errorf("gpt-tiny registered with %d params (%d weights), GPTTiny counts %d (%d)", m.Params, m.Weights,
			models.GPTTiny.Params(), models.GPTTiny.Weights())
	}
	for _, c := range []models.GPTConfig{
		{Context: 8, Width: 16, Heads: 2, MLP: 24, Blocks: 1},
		{Context: 32, Width: 24, Heads: 3, MLP: 40, Blocks: 3},
	} {
		ctx := context.New()
		logits := runGPT(t, b, ctx, c.Build, make([]float32, 2*c.Context), 2).Shape().Dimensions
		params, weights := 0, 0
		for v := range ctx.IterVariables() {
			if !v.Trainable {
				continue
			}
			params += v.Shape().Size()
			if v.Name() == "weights" && v.Shape().Rank() >= 2 {
				weights += v.Shape().Size()
			}
		}
		if params != c.Params() || weights != c.Weights() {
			t.Errorf("%+v: built %d params (%d weights), Params() %d, Weights() %d", c, params, weights, c.Params(), c.Weights())
		}
		if want := []int{2, c.Context, 256}; !cmp.Equal(logits, want) {
			t.Errorf("%+v: logits %v, want %v", c, logits, want)
		}
	}
}

func TestGPTRejectsBadConfigs(t *testing.T) {
	b := pureGoBackend(t)
	for _, tc := range []struct {
		cfg  models.GPTConfig
		dims []int
		want string
	}{
		{models.GPTConfig{Context: 8, Width: 30, Heads: 4, MLP: 8, Blocks: 1}, []int{2, 8}, "width 30 is not a multiple of the 4 heads"},
		{models.GPTConfig{Context: 8, Width: 32, Heads: 4, MLP: 8, Blocks: 1}, []int{2, 9}, "1 <= T <= context 8"},
		{models.GPTConfig{Context: 8, Width: 32, Heads: 4, MLP: 8, Blocks: 1}, []int{2, 8, 1}, "is not [batch, T]"},
	} {
		func() {
			defer func() {
				if r, _ := recoverString(recover()); !strings.Contains(r, tc.want) {
					t.Errorf("%+v on %v: panic %q, want %q", tc.cfg, tc.dims, r, tc.want)
				}
			}()
			g := graph.NewGraph(b, "gpt")
			x := graph.Parameter(g, "x", shapes.Make(dtypes.Float32, tc.dims...))
			tc.cfg.Build(context.New(), x)
		}()
	}
}
