package oneshot_test

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/prunelab/prunelab/oneshot"
)

// Pruning a layer of 8 inputs and 2 outputs to 2:4 with the three methods. Input 1 carries
// much larger activations than the others (an "outlier feature"), which Wanda sees and magnitude
// does not; inputs 6 and 7 nearly repeat inputs 2 and 3, which only SparseGPT exploits: it moves
// the weights of the pruned inputs onto their twins.
func Example() {
	const in, out, rows = 8, 2, 64
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, rows*in)
	for r := range rows {
		for i := range in {
			x[r*in+i] = float32(rng.NormFloat64())
		}
		x[r*in+1] *= 20
		x[r*in+6] = x[r*in+2] + 0.1*float32(rng.NormFloat64())
		x[r*in+7] = x[r*in+3] + 0.1*float32(rng.NormFloat64())
	}
	stats := oneshot.NewStats(in)
	if err := stats.Add(x, rows); err != nil {
		panic(err)
	}
	layer := oneshot.Layer{Name: "fc", In: in, Out: out, W: []float32{
		// out 0, out 1
		0.9, -0.8, // input 0
		0.1, 0.2, // input 1: small weights, large activations
		-0.7, 0.6, // inputs 2 and 3 ...
		0.5, 0.9,
		0.4, -0.3,
		0.3, 0.5,
		-0.6, 0.1, // ... and 6 and 7: nearly the same activations
		0.2, -0.4,
	}}
	p := oneshot.NM(2, 4)

	// Masks are shown per output (a column of W), inputs left to right: x kept, . pruned.

	show := func(method string, keep []bool, w []float32) {
		rel, err := oneshot.RelativeReconstructionError(layer, w, stats)
		if err != nil {
			panic(err)
		}
		var cols []string
		for j := range out {
			var b strings.Builder
			for i := range in {
				if keep[i*out+j] {
					b.WriteByte('x')
				} else {
					b.WriteByte('.')
				}
			}
			cols = append(cols, b.String())
		}
		fmt.Printf("%-9s %s  relative error %.3f\n", method, strings.Join(cols, " "), rel)
	}
	keep, err := oneshot.Magnitude(layer, p)
	if err != nil {
		panic(err)
	}
	show("magnitude", keep, masked(layer.W, keep))
	if keep, err = oneshot.Wanda(layer, stats, p); err != nil {
		panic(err)
	}
	show("wanda", keep, masked(layer.W, keep))
	w, keep, err := oneshot.SparseGPT(layer, stats, p, oneshot.SparseGPTOptions{})
	if err != nil {
		panic(err)
	}
	show("sparsegpt", keep, w)
	fmt.Print("sparsegpt weights of output 0:")
	for i := range in {
		fmt.Printf(" %.2f", w[i*out])
	}
	fmt.Println()
	// Output:
	// magnitude x.x.x.x. x..x.x.x  relative error 0.754
	// wanda     xx..x.x. xx...x.x  relative error 0.100
	// sparsegpt xx....xx xx...xx.  relative error 0.026
	// sparsegpt weights of output 0: 0.90 0.10 0.00 0.00 0.00 0.00 -1.09 0.55
}

// masked returns w with the weights not kept set to zero.
func masked(w []float32, keep []bool) []float32 {
	m := make([]float32, len(w))
	for k := range w {
		if keep[k] {
			m[k] = w[k]
		}
	}
	return m
}
