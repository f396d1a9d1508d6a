package oneshot

import (
	"fmt"
	"testing"
)

// BenchmarkSparseGPT prunes square layers to 50% unstructured sparsity from 2·width calibration
// rows (statistics accumulated outside the timing). The work grows as width³: Cholesky
// factorizations and inverse of H, and the OBS updates of In·Out weights over In inputs.
func BenchmarkSparseGPT(b *testing.B) {
	for _, width := range []int{128, 256, 512} {
		b.Run(fmt.Sprintf("width=%d", width), func(b *testing.B) {
			f := newFixture(b, 1, width, width, 2*width)
			for b.Loop() {
				if _, _, err := SparseGPT(f.layer, f.stats, Unstructured(0.5), SparseGPTOptions{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
