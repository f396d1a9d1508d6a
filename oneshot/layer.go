package oneshot

import (
	"fmt"
	"math"
)

// Layer is a linear layer y = x·W with x of shape [batch, In]. W holds In·Out weights stored
// row-major as [In][Out], as GoMLX stores dense kernels: W[i*Out+j] connects input i to output
// j. A bias is not pruned and plays no part here. Name only labels errors.
type Layer struct {
	Name    string
	In, Out int
	W       []float32
}

// label is the layer's name for error messages.
func (l Layer) label() string {
	if l.Name == "" {
		return "layer"
	}
	return l.Name
}

// check validates the shape and that every weight is finite.
func (l Layer) check() error {
	if l.In <= 0 || l.Out <= 0 {
		return fmt.Errorf("%w: %s: In=%d, Out=%d must be positive", ErrShape, l.label(), l.In, l.Out)
	}
	if len(l.W) != l.In*l.Out {
		return fmt.Errorf("%w: %s: W has %d values, want In·Out = %d·%d = %d", ErrShape, l.label(),
			len(l.W), l.In, l.Out, l.In*l.Out)
	}
	for k, w := range l.W {
		if math.IsNaN(float64(w)) || math.IsInf(float64(w), 0) {
			return fmt.Errorf("%w: %s: W[%d][%d] = %v", ErrNotFinite, l.label(), k/l.Out, k%l.Out, w)
		}
	}
	return nil
}

// checkStats validates calibration statistics for the layer.
func (l Layer) checkStats(s *Stats) error {
	if s == nil || s.n == 0 {
		return fmt.Errorf("%w: %s: statistics have no rows", ErrNoCalibration, l.label())
	}
	if s.in != l.In {
		return fmt.Errorf("%w: %s: statistics of %d inputs for a layer of In=%d", ErrShape, l.label(), s.in, l.In)
	}
	return nil
}
