package pruning

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// benchLayers is the model of BenchmarkGlobalMagnitude100M: four float32 variables of 5000×5000.
const benchLayers, benchDim = 4, 5000

// benchContext returns a context holding 100M N(0,1) float32 weights (seeded) in four masked
// variables, and a copy of the weights. If $PRUNELAB_BENCH_DATA names a file, the weights are
// also written there, little-endian float32 in variable order, for scripts/bench-global-magnitude.sh
// to time PyTorch on the same data.
func benchContext(b *testing.B) (*context.Context, [][]float32) {
	b.Helper()
	ctx := context.New()
	rng := rand.New(rand.NewPCG(42, 7))
	var originals [][]float32
	var out *os.File
	if path := os.Getenv("PRUNELAB_BENCH_DATA"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		out = f
	}
	for l := range benchLayers {
		w := make([]float32, benchDim*benchDim)
		for i := range w {
			w[i] = float32(rng.NormFloat64())
		}
		if out != nil {
			buf := make([]byte, 4*len(w))
			for i, x := range w {
				binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(x))
			}
			if _, err := out.Write(buf); err != nil {
				b.Fatal(err)
			}
		}
		originals = append(originals, w)
		ctx.InAbsPath(fmt.Sprintf("/fc%d/dense", l)).VariableWithValue("weights",
			tensors.FromFlatDataAndDimensions(slices.Clone(w), benchDim, benchDim))
	}
	if _, err := AttachMasks(ctx, Selector{}); err != nil {
		b.Fatal(err)
	}
	return ctx, originals
}

// BenchmarkGlobalMagnitude100M prunes 80% of 100M float32 weights by global magnitude, the
// operation PyTorch runs as kthvalue/topk over the concatenated magnitudes:
//
//   - ComputeMasks: read the masks, select the 80M smallest |w| on the weights in place (radix
//     selection, no sort, no copy of the weights) and build the new masks;
//   - PruneOnce: the same, then write the mask variables and the zeroed weights (what a
//     pruning step costs end to end).
//
// It needs about 3 GB of memory. scripts/bench-global-magnitude.sh runs it next to PyTorch.
func BenchmarkGlobalMagnitude100M(b *testing.B) {
	ctx, originals := benchContext(b)
	cfg := Config{Allocation: Global{}}
	const want = 80_000_000
	b.Run("ComputeMasks", func(b *testing.B) {
		for b.Loop() {
			masks, res, err := ComputeMasks(ctx, cfg, Sparsity(0.8))
			if err != nil {
				b.Fatal(err)
			}
			if res.PrunedAfter != want || masks.NumPruned() != want {
				b.Fatalf("pruned %d, want %d", res.PrunedAfter, want)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Seconds())/float64(b.N), "s/prune")
	})
	b.Run("PruneOnce", func(b *testing.B) {
		var total float64
		for range b.N {
			b.StopTimer()
			ones := MaskSet{}
			for l, w := range originals {
				path := fmt.Sprintf("/fc%d/dense/weights", l)
				v := ctx.GetVariableByScopeAndName(fmt.Sprintf("/fc%d/dense", l), "weights")
				if err := v.SetValue(tensors.FromFlatDataAndDimensions(slices.Clone(w), benchDim, benchDim)); err != nil {
					b.Fatal(err)
				}
				ones[path] = NewMask(benchDim, benchDim)
			}
			if err := SetMasks(ctx, ones); err != nil {
				b.Fatal(err)
			}
			runtime.GC()
			b.StartTimer()
			res, err := PruneOnce(ctx, cfg, Sparsity(0.8))
			if err != nil {
				b.Fatal(err)
			}
			if res.PrunedAfter != want {
				b.Fatalf("pruned %d, want %d", res.PrunedAfter, want)
			}
		}
		total = b.Elapsed().Seconds()
		b.ReportMetric(total/float64(b.N), "s/prune")
	})
}
