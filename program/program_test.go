package program_test

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/backends"
	_ "github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/layers"

	"github.com/prunelab/prunelab/backend"
	"github.com/prunelab/prunelab/models"
	"github.com/prunelab/prunelab/program"
)

func newBackend(t testing.TB) backends.Backend {
	t.Helper()
	b, err := backend.NewPureGo()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// randomInput returns a float32 batch of the given example shape, uniform in [0, 1).
func randomInput(batch int, dims []int, seed uint64) *tensors.Tensor {
	rng := rand.New(rand.NewPCG(seed, 1))
	all := append([]int{batch}, dims...)
	t := tensors.FromShape(shapes.Make(dtypes.Float32, all...))
	t.MutableFlatData(func(flat any) {
		for i := range flat.([]float32) {
			flat.([]float32)[i] = rng.Float32()
		}
	})
	return t
}

func maxAbsDiff(t *testing.T, a, b *tensors.Tensor) float64 {
	t.Helper()
	x, y := tensors.MustCopyFlatData[float32](a), tensors.MustCopyFlatData[float32](b)
	if len(x) != len(y) {
		t.Fatalf("sizes differ: %s vs %s", a.Shape(), b.Shape())
	}
	d := 0.0
	for i := range x {
		d = math.Max(d, math.Abs(float64(x[i]-y[i])))
	}
	return d
}

// initModel runs the model once so that its variables exist with initial values; it returns the
// model's own output on x.
func initModel(t *testing.T, b backends.Backend, m models.Model, x *tensors.Tensor) (*context.Context, *tensors.Tensor) {
	t.Helper()
	ctx := context.New()
	ctx.SetParam(context.ParamInitialSeed, int64(7))
	exec, err := context.NewExec(b, ctx, func(ctx *context.Context, x *graph.Node) *graph.Node { return m.Build(ctx, x) })
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Exec(x)
	if err != nil {
		t.Fatal(err)
	}
	return ctx, out[0]
}

func TestTraceReplaysEveryModel(t *testing.T) {
	b := newBackend(t)
	for _, name := range models.Names() {
		t.Run(name, func(t *testing.T) {
			m, err := models.ByName(name)
			if err != nil {
				t.Fatal(err)
			}
			x := randomInput(2, m.InputShape, 1)
			ctx, want := initModel(t, b, m, x)
			p, err := program.Trace(b, ctx, m.Build, shapes.Make(dtypes.Float32, m.InputShape...))
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if err := p.Encode(&buf); err != nil {
				t.Fatal(err)
			}
			p2, err := program.Decode(&buf)
			if err != nil {
				t.Fatal(err)
			}
			got, err := p2.Run(b, ctx, x)
			if err != nil {
				t.Fatal(err)
			}
			if d := maxAbsDiff(t, want, got); d > 1e-6 {
				t.Errorf("replay differs from the model by %g", d)
			}
			// Another batch size than the traced ones.
			x1 := randomInput(1, m.InputShape, 2)
			_, want1 := initModelWith(t, b, ctx, m, x1)
			got1, err := p2.Run(b, ctx, x1)
			if err != nil {
				t.Fatal(err)
			}
			if d := maxAbsDiff(t, want1, got1); d > 1e-6 {
				t.Errorf("batch 1: replay differs from the model by %g", d)
			}
			if p.NumParams() == 0 || p.NumParams() < m.Weights {
				t.Errorf("program reads %d parameters, model has %d weights", p.NumParams(), m.Weights)
			}
		})
	}
}

func initModelWith(t *testing.T, b backends.Backend, ctx *context.Context, m models.Model, x *tensors.Tensor) (*context.Context, *tensors.Tensor) {
	t.Helper()
	exec, err := context.NewExec(b, ctx.Reuse(), func(ctx *context.Context, x *graph.Node) *graph.Node { return m.Build(ctx, x) })
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Exec(x)
	if err != nil {
		t.Fatal(err)
	}
	return ctx, out[0]
}

func TestTraceUnsupportedOp(t *testing.T) {
	b := newBackend(t)
	ctx := context.New()
	fn := func(ctx *context.Context, x *graph.Node) *graph.Node {
		x = layers.Dense(ctx.In("fc0"), x, true, 4)
		return graph.ArgMax(x, -1) // ArgMinMax is not supported
	}
	_, err := program.Trace(b, ctx, fn, shapes.Make(dtypes.Float32, 3))
	if !errors.Is(err, program.ErrUnsupportedOp) || !strings.Contains(err.Error(), "ArgMinMax") ||
		!strings.Contains(err.Error(), "fc0") {
		t.Errorf("Trace(ArgMax) error = %v, want ErrUnsupportedOp naming ArgMinMax and fc0", err)
	}
}

func TestDecodeRejectsBadPrograms(t *testing.T) {
	for _, tc := range []struct{ name, json string }{
		{"empty", `{}`},
		{"forward operand", `{"version":1,"ops":[{"type":"Input","dtype":"Float32","dims":[-1,2]},{"type":"Neg","inputs":[2],"dtype":"Float32","dims":[-1,2]}],"output":1}`},
		{"unknown op", `{"version":1,"ops":[{"type":"Input","dtype":"Float32","dims":[-1,2]},{"type":"Frobnicate","inputs":[0],"dtype":"Float32","dims":[-1,2]}],"output":1}`},
		{"undeclared variable", `{"version":1,"ops":[{"type":"Input","dtype":"Float32","dims":[-1,2]},{"type":"Variable","var":"/w","dtype":"Float32","dims":[2]}],"output":0}`},
		{"unknown field", `{"version":1,"bogus":1}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := program.Decode(strings.NewReader(tc.json)); err == nil {
				t.Error("Decode succeeded")
			}
		})
	}
}

// TestMatMulsTransposed: x·Wᵀ with W [N, K] (ONNX Gemm with transB, PyTorch's Linear) is a MatMul
// with Transposed set and K, N the matrix's, not the variable's.
func TestMatMulsTransposed(t *testing.T) {
	p := &program.Program{Version: program.Version, Variables: []program.Variable{{Path: "/w", DType: dtypes.Float32, Dims: []int{3, 5}}}}
	p.Ops = []program.Op{
		{Type: program.OpInput, DType: dtypes.Float32, Dims: []int{-1, 5}},
		{Type: program.OpVariable, Var: "/w", DType: dtypes.Float32, Dims: []int{3, 5}},
		{Type: "DotGeneral", Inputs: []int{0, 1}, DType: dtypes.Float32, Dims: []int{-1, 3}, Contracting: [2][]int{{1}, {1}}},
	}
	p.Output = 2
	mms := p.MatMuls()
	if len(mms) != 1 || !mms[0].Transposed || mms[0].K != 5 || mms[0].N != 3 || mms[0].Var != "/w" {
		t.Fatalf("MatMuls = %+v", mms)
	}
}
