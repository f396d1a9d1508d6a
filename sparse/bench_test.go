package sparse_test

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"

	prunelabbackend "github.com/prunelab/prunelab/backend"
	"github.com/prunelab/prunelab/datasets"
	"github.com/prunelab/prunelab/models"
	"github.com/prunelab/prunelab/program"
	"github.com/prunelab/prunelab/sparse"
)

// magnitudePrune zeroes the smallest-magnitude fraction of each weight matrix (rank >= 2).
func magnitudePrune(p *program.Program, values map[string][]float32, sparsity float64) {
	for _, v := range p.Variables {
		if len(v.Dims) < 2 {
			continue
		}
		w := values[v.Path]
		order := make([]int, len(w))
		for i := range order {
			order[i] = i
		}
		slices.SortFunc(order, func(a, b int) int { return cmp.Compare(math.Abs(float64(w[a])), math.Abs(float64(w[b]))) })
		for _, i := range order[:int(math.Round(sparsity*float64(len(w))))] {
			w[i] = 0
		}
	}
}

// mnistInputs returns n MNIST test images scaled to [0, 1] (synthetic ones if MNIST is not
// available offline).
func mnistInputs(n int) ([]float32, string) {
	x := make([]float32, n*784)
	data, err := datasets.Load("mnist", datasets.Options{NoDownload: true})
	if err != nil {
		for i := range x {
			if i%5 == 0 {
				x[i] = float32(i%255) / 255
			}
		}
		return x, "synthetic"
	}
	for i := range x {
		x[i] = float32(data.Test.Pixels[i]) / 255
	}
	return x, "mnist"
}

// lenetPlain is LeNet-300-100 as three plain dense Go loops (no zero skipping): the honest dense
// baseline outside GoMLX.
func lenetPlain(values map[string][]float32) sparse.RunnerFunc {
	type layer struct {
		w, b    []float32
		in, out int
	}
	layers := []layer{
		{values["/fc0/dense/weights"], values["/fc0/dense/biases"], 784, 300},
		{values["/fc1/dense/weights"], values["/fc1/dense/biases"], 300, 100},
		{values["/fc2/dense/weights"], values["/fc2/dense/biases"], 100, 10},
	}
	return func(x []float32, batch int) ([]float32, error) {
		h := x
		for li, l := range layers {
			y := make([]float32, batch*l.out)
			sparse.DenseMatMul(y, h, l.w, batch, l.in, l.out, false)
			for i := range y {
				y[i] += l.b[i%l.out]
				if li < len(layers)-1 && y[i] < 0 {
					y[i] = 0
				}
			}
			h = y
		}
		return h, nil
	}
}

// BenchmarkLeNet300100 measures LeNet-300-100 inference (magnitude-pruned Glorot weights, MNIST test
// images) on the pure-Go side, in one run: GoMLX's dense execution of the same program ("gomlx"),
// plain dense Go loops ("go-plain"), the Go executor with dense kernels ("go-dense", skipping zero
// inputs), with CSR kernels ("go-csr") and with kernels chosen by density ("go-auto"). Speedups are
// ratios of ns/op; scripts/bench-sparse.sh prints them.
//
//	GOMLX_BACKEND=go go test -run '^$' -bench LeNet300100 ./sparse/
func BenchmarkLeNet300100(b *testing.B) {
	// The backend Prunelab runs on (GOMLX_BACKEND=go: SimpleGo with gomlxfix's kernels, as in training).
	backend, err := prunelabbackend.Default()
	if err != nil {
		b.Fatal(err)
	}
	m, _ := models.ByName("lenet-300-100")
	ctx := context.New()
	ctx.SetParam(context.ParamInitialSeed, int64(1))
	p, err := program.Trace(backend, ctx, m.Build, shapes.Make(dtypes.Float32, m.InputShape...))
	if err != nil {
		b.Fatal(err)
	}
	// Initialize the variables by running the model once through GoMLX.
	if _, err := p.Run(backend, ctx, randomInput(1, m.InputShape)); err != nil {
		b.Fatal(err)
	}
	x, source := mnistInputs(256)
	b.Logf("inputs: %s", source)
	for _, sparsity := range []float64{0, 0.9, 0.95} {
		values, err := p.Values(ctx)
		if err != nil {
			b.Fatal(err)
		}
		magnitudePrune(p, values, sparsity)
		pctx, err := p.NewContext(values)
		if err != nil {
			b.Fatal(err)
		}
		gomlx, err := sparse.NewGoMLXRunner(backend, p, pctx)
		if err != nil {
			b.Fatal(err)
		}
		runners := []sparse.Candidate{{Name: "gomlx", Runner: gomlx}, {Name: "go-plain", Runner: lenetPlain(values)}}
		for _, k := range []sparse.Kernel{sparse.KernelDense, sparse.KernelCSR, sparse.KernelAuto} {
			sm, err := sparse.Compile(p, values, sparse.Options{Kernel: k})
			if err != nil {
				b.Fatal(err)
			}
			runners = append(runners, sparse.Candidate{Name: "go-" + k.String(), Runner: sm})
		}
		for _, batch := range []int{1, 256} {
			for _, r := range runners {
				b.Run(fmt.Sprintf("sparsity=%.2f/batch=%d/%s", sparsity, batch, r.Name), func(b *testing.B) {
					in := x[:batch*784]
					if _, err := r.Runner.Run(in, batch); err != nil { // warm-up (compiles GoMLX)
						b.Fatal(err)
					}
					for b.Loop() {
						if _, err := r.Runner.Run(in, batch); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		}
	}
}

// BenchmarkKernels measures the matrix kernels alone on LeNet-300-100's first layer (784×300) at
// densities from 5% to 100%, batch 1 and 256, with MNIST-like inputs: the data behind
// DefaultMaxDensity.
func BenchmarkKernels(b *testing.B) {
	const rows, cols = 784, 300
	x, _ := mnistInputs(256)
	for _, density := range []float64{0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 1} {
		w := make([]float32, rows*cols)
		for i := range w {
			if float64((i*7919)%1000)/1000 < density {
				w[i] = float32(i%17) - 8
			}
		}
		csr, err := sparse.NewCSR(rows, cols, w)
		if err != nil {
			b.Fatal(err)
		}
		for _, batch := range []int{1, 256} {
			y := make([]float32, batch*cols)
			in := x[:batch*rows]
			b.Run(fmt.Sprintf("density=%.2f/batch=%d/dense", density, batch), func(b *testing.B) {
				for b.Loop() {
					sparse.DenseMatMul(y, in, w, batch, rows, cols, true)
				}
			})
			b.Run(fmt.Sprintf("density=%.2f/batch=%d/csr", density, batch), func(b *testing.B) {
				for b.Loop() {
					csr.MatMul(y, in, batch)
				}
			})
		}
	}
}
