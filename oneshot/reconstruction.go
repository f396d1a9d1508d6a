package oneshot

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
)

// ReconstructionError returns ‖XW − XŴ‖²_F, the squared error of the layer's outputs on the
// calibration rows X when its weights l.W are replaced by w (layout [In][Out] as l.W), summed
// over rows and outputs. It is computed from the statistics alone, without X:
//
//	‖XW − XŴ‖²_F = trace(ΔWᵀ XᵀX ΔW) = Σ_j Δw_jᵀ G Δw_j,   ΔW = W − Ŵ,
//
// with G = XᵀX the Gram matrix of s ([Stats.Gram]) and Δw_j the change of the weights of output
// j: the loss SparseGPT minimizes output by output (its H is 2G/N). Errors wrap [ErrShape] or
// [ErrNoCalibration].
func ReconstructionError(l Layer, w []float32, s *Stats) (float64, error) {
	if err := checkReconstruction(l, w, s); err != nil {
		return 0, err
	}
	delta := make([]float64, l.In*l.Out)
	for k := range delta {
		delta[k] = float64(l.W[k]) - float64(w[k])
	}
	return quadratic(s.gram, mat.NewDense(l.In, l.Out, delta)), nil
}

// RelativeReconstructionError returns ‖XW − XŴ‖²_F / ‖XW‖²_F ([ReconstructionError] relative to
// the energy of the layer's outputs): 0 when nothing changed, 1 when Ŵ = 0. It is +Inf when the
// outputs are all zero but the error is not, 0 when both are. Errors as ReconstructionError.
func RelativeReconstructionError(l Layer, w []float32, s *Stats) (float64, error) {
	num, err := ReconstructionError(l, w, s)
	if err != nil {
		return 0, err
	}
	ws := make([]float64, l.In*l.Out)
	for k, v := range l.W {
		ws[k] = float64(v)
	}
	den := quadratic(s.gram, mat.NewDense(l.In, l.Out, ws))
	switch {
	case den > 0:
		return num / den, nil
	case num == 0:
		return 0, nil
	default:
		return math.Inf(1), nil
	}
}

func checkReconstruction(l Layer, w []float32, s *Stats) error {
	if l.In <= 0 || l.Out <= 0 || len(l.W) != l.In*l.Out || len(w) != len(l.W) {
		return fmt.Errorf("%w: %s: In=%d, Out=%d with %d weights, %d new weights", ErrShape, l.label(),
			l.In, l.Out, len(l.W), len(w))
	}
	return l.checkStats(s)
}

// quadratic returns trace(Dᵀ G D) = Σ_ij D_ij (G D)_ij.
func quadratic(g *mat.SymDense, d *mat.Dense) float64 {
	var gd mat.Dense
	gd.Mul(g, d)
	r, c := d.Dims()
	var sum float64
	for i := range r {
		for j := range c {
			sum += d.At(i, j) * gd.At(i, j)
		}
	}
	return sum
}
