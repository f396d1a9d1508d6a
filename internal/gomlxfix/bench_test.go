package gomlxfix

import (
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// BenchmarkDenseStep measures one training-like step of the first layer of LeNet-300-100 on the
// pure-Go backend: forward of a [60,784] batch times [784,300] weights, a mean squared error loss,
// and the loss's gradient with respect to the weights; with GoMLX's stock gradient and with the
// fast one, for the layer written as graph.Dot (what layers.Dense uses) and as DotGeneral.
//
//	GOMLX_BACKEND=go go test -run xxx -bench DenseStep -benchtime 20x ./internal/gomlxfix/
func BenchmarkDenseStep(b *testing.B) {
	const batch, in, out = 60, 784, 300
	rng := rand.New(rand.NewPCG(1, 2))
	x := tensors.FromFlatDataAndDimensions(randomSlice[float32](rng, batch*in), batch, in)
	w := tensors.FromFlatDataAndDimensions(randomSlice[float32](rng, in*out), in, out)
	target := tensors.FromFlatDataAndDimensions(randomSlice[float32](rng, batch*out), batch, out)
	products := []struct {
		name    string
		product func(x, w *graph.Node) *graph.Node
	}{
		{"Dot", graph.Dot},
		{"DotGeneral", func(x, w *graph.Node) *graph.Node { return graph.DotGeneral(x, []int{1}, nil, w, []int{0}, nil) }},
	}
	for _, p := range products {
		for _, rule := range []struct {
			name string
			fast bool
		}{{"stock", false}, {"fast", true}} {
			b.Run(p.name+"/"+rule.name, func(b *testing.B) {
				useDotGradient(b, rule.fast)
				step := graph.MustNewExec(backend(), func(x, w, target *graph.Node) (*graph.Node, *graph.Node) {
					loss := graph.ReduceAllMean(graph.Square(graph.Sub(p.product(x, w), target)))
					return loss, graph.Gradient(loss, w)[0]
				})
				run := func() {
					for _, t := range step.MustExec(x, w, target) {
						t.MustFinalizeAll()
					}
				}
				run() // builds and compiles the graph
				for b.Loop() {
					run()
				}
			})
		}
	}
}

// BenchmarkConv2DChannelsLast measures the implicit-GEMM convolution kernel alone on the layers of
// LeNet-5 and Conv-4 at batch 64, dense and with 70% of the channels removed.
//
//	go test -run xxx -bench Conv2DChannelsLast ./internal/gomlxfix/
func BenchmarkConv2DChannelsLast(b *testing.B) {
	layers := []struct {
		name           string
		hw, k, in, out int
	}{
		{"lenet5-conv0", 28, 5, 1, 6}, {"lenet5-conv1", 14, 5, 6, 16}, {"lenet5-conv1-70%", 14, 5, 2, 5},
		{"conv4-conv0", 32, 3, 3, 64}, {"conv4-conv1", 32, 3, 64, 64}, {"conv4-conv1-70%", 32, 3, 19, 19},
	}
	rng := rand.New(rand.NewPCG(5, 5))
	for _, l := range layers {
		const batch = 64
		input := randomSlice[float32](rng, batch*l.hw*l.hw*l.in)
		kernel := randomSlice[float32](rng, l.k*l.k*l.in*l.out)
		output := make([]float32, batch*l.hw*l.hw*l.out)
		pad := l.k / 2
		s := Conv2DShape{Batch: batch, Height: l.hw, Width: l.hw, InChannels: l.in, KernelHeight: l.k, KernelWidth: l.k,
			OutChannels: l.out, OutHeight: l.hw, OutWidth: l.hw, Strides: [2]int{1, 1}, Paddings: [2][2]int{{pad, pad}, {pad, pad}}}
		b.Run(l.name, func(b *testing.B) {
			for b.Loop() {
				Conv2DChannelsLast(output, input, kernel, s)
			}
			b.ReportMetric(float64(batch*l.hw*l.hw*l.k*l.k*l.in*l.out)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GMAC/s")
		})
	}
}
