package oneshot

import (
	"math"
	"math/rand/v2"
	"testing"
)

// fixture is a layer with its calibration rows and their statistics.
type fixture struct {
	layer Layer
	x     []float32 // calibration rows, [rows][In]
	rows  int
	stats *Stats
}

// newFixture builds a layer of normal weights and rows calibration inputs x = (z·A)·diag(c):
// z standard normal, A a random mixing matrix (correlated inputs) and c per-input scales spread
// over one decade, with every eighth input ten times larger again ("outlier features", which make
// weight magnitude a poor guide to importance). Wider spreads (three decades) make the default
// dampening, relative to mean(diag H) and so set by the largest inputs, swamp the smallest
// inputs' curvature: SparseGPT then loses to Wanda at 50% unstructured on some seeds.
func newFixture(t testing.TB, seed uint64, in, out, rows int) fixture {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	a := make([]float64, in*in)
	for k := range a {
		a[k] = rng.NormFloat64() / math.Sqrt(float64(in))
	}
	scale := make([]float64, in)
	for i := range scale {
		scale[i] = math.Pow(10, rng.Float64()-0.5)
		if i%8 == 3 {
			scale[i] *= 10 // outlier features
		}
	}
	x := make([]float32, rows*in)
	z := make([]float64, in)
	for r := range rows {
		for k := range z {
			z[k] = rng.NormFloat64()
		}
		for i := range in {
			var v float64
			for k := range in {
				v += z[k] * a[k*in+i]
			}
			x[r*in+i] = float32(v * scale[i])
		}
	}
	w := make([]float32, in*out)
	for k := range w {
		w[k] = float32(rng.NormFloat64() / math.Sqrt(float64(in)))
	}
	f := fixture{layer: Layer{Name: "fc", In: in, Out: out, W: w}, x: x, rows: rows, stats: NewStats(in)}
	if err := f.stats.Add(x, rows); err != nil {
		t.Fatal(err)
	}
	return f
}

// directError returns ‖XW − XŴ‖²_F computed from the calibration rows, in float64.
func directError(f fixture, w []float32) float64 {
	in, out := f.layer.In, f.layer.Out
	var sum float64
	for r := range f.rows {
		for j := range out {
			var y float64
			for i := range in {
				y += float64(f.x[r*in+i]) * (float64(f.layer.W[i*out+j]) - float64(w[i*out+j]))
			}
			sum += y * y
		}
	}
	return sum
}

// applyMask returns l.W with the weights not kept set to zero.
func applyMask(l Layer, keep []bool) []float32 {
	w := make([]float32, len(l.W))
	for k, v := range l.W {
		if keep[k] {
			w[k] = v
		}
	}
	return w
}

// checkPattern fails t unless keep has exactly the sparsity p asks of a layer of in×out.
func checkPattern(t *testing.T, keep []bool, in, out int, p Pattern) {
	t.Helper()
	if len(keep) != in*out {
		t.Fatalf("mask has %d entries, want %d", len(keep), in*out)
	}
	if p.IsNM() {
		for j := range out {
			for g := 0; g < in; g += p.M {
				kept := 0
				for i := g; i < g+p.M; i++ {
					if keep[i*out+j] {
						kept++
					}
				}
				if kept != p.N {
					t.Fatalf("output %d, inputs %d..%d: %d kept, want %d (%v)", j, g, g+p.M-1, kept, p.N, p)
				}
			}
		}
		return
	}
	pruned := 0
	for _, k := range keep {
		if !k {
			pruned++
		}
	}
	if want := out * int(math.RoundToEven(p.Sparsity*float64(in))); pruned != want {
		t.Fatalf("%d weights pruned, want %d (%v)", pruned, want, p)
	}
}
