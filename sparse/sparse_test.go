package sparse_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	_ "github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/prunelab/prunelab/backend"
	"github.com/prunelab/prunelab/models"
	"github.com/prunelab/prunelab/program"
	"github.com/prunelab/prunelab/sparse"
)

func TestCSRMatchesDense(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const rows, cols, batch = 37, 23, 5
	w := make([]float32, rows*cols)
	for i := range w {
		if rng.Float64() < 0.2 {
			w[i] = rng.Float32() - 0.5
		}
	}
	x := make([]float32, batch*rows)
	for i := range x {
		if rng.Float64() < 0.6 {
			x[i] = rng.Float32()
		}
	}
	m, err := sparse.NewCSR(rows, cols, w)
	if err != nil {
		t.Fatal(err)
	}
	got, want := make([]float32, batch*cols), make([]float32, batch*cols)
	m.MatMul(got, x, batch)
	sparse.DenseMatMul(want, x, w, batch, rows, cols, false)
	for i := range got {
		if math.Abs(float64(got[i]-want[i])) > 1e-5 {
			t.Fatalf("y[%d] = %g, dense %g", i, got[i], want[i])
		}
	}
	if _, err := sparse.NewCSR(2, 2, []float32{1}); err == nil {
		t.Error("NewCSR with a wrong size succeeded")
	}
}

// pruneRandomly zeroes a fraction of every weight matrix.
func pruneRandomly(values map[string][]float32, p *program.Program, sparsity float64, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 3))
	for _, v := range p.Variables {
		if len(v.Dims) < 2 {
			continue
		}
		for i := range values[v.Path] {
			if rng.Float64() < sparsity {
				values[v.Path][i] = 0
			}
		}
	}
}

func TestModelMatchesGoMLX(t *testing.T) {
	b, err := backend.NewPureGo()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range models.Names() {
		t.Run(name, func(t *testing.T) {
			m, _ := models.ByName(name)
			ctx := context.New()
			ctx.SetParam(context.ParamInitialSeed, int64(3))
			x := randomInput(2, m.InputShape)
			exec := context.MustNewExec(b, ctx, func(ctx *context.Context, x *graph.Node) *graph.Node { return m.Build(ctx, x) })
			exec.MustExec(x)
			p, err := program.Trace(b, ctx, m.Build, shapes.Make(dtypes.Float32, m.InputShape...))
			if err != nil {
				t.Fatal(err)
			}
			values, err := p.Values(ctx)
			if err != nil {
				t.Fatal(err)
			}
			pruneRandomly(values, p, 0.9, 1)
			pctx, err := p.NewContext(values)
			if err != nil {
				t.Fatal(err)
			}
			want, err := p.Run(b, pctx, x)
			if err != nil {
				t.Fatal(err)
			}
			for _, kernel := range []sparse.Kernel{sparse.KernelDense, sparse.KernelCSR, sparse.KernelAuto} {
				sm, err := sparse.Compile(p, values, sparse.Options{Kernel: kernel})
				if err != nil {
					t.Fatal(err)
				}
				got, err := sm.Run(tensors.MustCopyFlatData[float32](x), 2)
				if err != nil {
					t.Fatal(err)
				}
				w := tensors.MustCopyFlatData[float32](want)
				for i := range w {
					if d := math.Abs(float64(got[i] - w[i])); d > 1e-4*(1+math.Abs(float64(w[i]))) {
						t.Fatalf("%s kernel: output %d = %g, GoMLX %g", kernel, i, got[i], w[i])
					}
				}
				if kernel == sparse.KernelCSR {
					for _, l := range sm.Layers() {
						if l.Kernel != "csr" {
							t.Errorf("layer %s uses %s, want csr", l.Weight, l.Kernel)
						}
					}
				}
			}
		})
	}
}

func TestCompileUnsupported(t *testing.T) {
	p := &program.Program{Version: program.Version, Output: 1, Ops: []program.Op{
		{Type: program.OpInput, DType: dtypes.Float32, Dims: []int{-1, 4}},
		{Type: "Cos", Inputs: []int{0}, DType: dtypes.Float32, Dims: []int{-1, 4}},
	}}
	if _, err := sparse.Compile(p, nil, sparse.Options{}); !errors.Is(err, sparse.ErrUnsupported) {
		t.Errorf("Compile(Cos) error = %v, want ErrUnsupported", err)
	}
}

func randomInput(batch int, dims []int) *tensors.Tensor {
	rng := rand.New(rand.NewPCG(9, 9))
	t := tensors.FromShape(shapes.Make(dtypes.Float32, append([]int{batch}, dims...)...))
	t.MutableFlatData(func(flat any) {
		for i := range flat.([]float32) {
			flat.([]float32)[i] = rng.Float32()
		}
	})
	return t
}
