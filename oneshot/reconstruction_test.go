package oneshot

import (
	"math"
	"testing"
)

// The error from the statistics, trace(ΔWᵀ G ΔW), equals ‖XW − XŴ‖²_F computed from the rows.
func TestReconstructionErrorMatchesDirect(t *testing.T) {
	f := newFixture(t, 21, 64, 32, 512)
	sg, _, err := SparseGPT(f.layer, f.stats, NM(2, 4), SparseGPTOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mag, err := Magnitude(f.layer, Unstructured(0.5))
	if err != nil {
		t.Fatal(err)
	}
	zeros := make([]float32, len(f.layer.W))
	for _, tc := range []struct {
		name string
		w    []float32
	}{
		{"sparsegpt 2:4", sg},
		{"magnitude 0.5", applyMask(f.layer, mag)},
		{"all pruned", zeros},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := mustError(t, f, tc.w)
			want := directError(f, tc.w)
			if math.Abs(got-want) > 1e-6*want {
				t.Errorf("ReconstructionError = %.10g, direct ‖XW − XŴ‖² = %.10g", got, want)
			}
		})
	}
	if got := mustError(t, f, f.layer.W); got != 0 {
		t.Errorf("unchanged weights: error %g, want 0", got)
	}
	if rel := mustRelError(t, f.layer, zeros, f.stats); math.Abs(rel-1) > 1e-12 {
		t.Errorf("all pruned: relative error %g, want 1", rel)
	}
	rel := mustRelError(t, f.layer, sg, f.stats)
	if want := directError(f, sg) / directError(f, zeros); math.Abs(rel-want) > 1e-6*want {
		t.Errorf("relative error %g, want %g", rel, want)
	}
}
