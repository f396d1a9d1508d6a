package oneshot

import (
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/mat"
)

// Stats accumulates the calibration inputs of one layer: the Gram matrix G = Σ xᵀx over all
// rows x added (In×In, symmetric, float64) and the number of rows N. It is all the data-dependent
// information [Wanda], [SparseGPT] and [ReconstructionError] need. A Stats is not safe for
// concurrent use; accumulate batches in separate Stats and [Stats.Merge] them. Create Stats
// with [NewStats]: the zero value has no size.
type Stats struct {
	in, n int
	gram  *mat.SymDense
	buf   []float64
}

// NewStats returns empty statistics for a layer of in inputs. It panics if in < 1.
func NewStats(in int) *Stats {
	if in < 1 {
		panic(fmt.Sprintf("oneshot.NewStats: in = %d, want ≥ 1", in))
	}
	return &Stats{in: in, gram: mat.NewSymDense(in, nil)}
}

// In returns the number of inputs.
func (s *Stats) In() int { return s.in }

// Rows returns N, the number of calibration rows added.
func (s *Stats) Rows() int { return s.n }

// addChunk is the number of rows converted to float64 at once by Add.
const addChunk = 512

// Add accumulates rows calibration inputs x, stored row-major as [rows][In] (as a GoMLX
// [batch, In] tensor). It returns an error wrapping [ErrShape] when len(x) ≠ rows·In and
// [ErrNotFinite] when an input is NaN or infinite; the statistics are then unchanged.
func (s *Stats) Add(x []float32, rows int) error {
	if rows < 0 || len(x) != rows*s.in {
		return fmt.Errorf("%w: calibration batch of %d values for %d rows of %d inputs", ErrShape, len(x), rows, s.in)
	}
	for k, v := range x {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("%w: calibration input row %d, column %d is %v", ErrNotFinite, k/s.in, k%s.in, v)
		}
	}
	for r0 := 0; r0 < rows; r0 += addChunk {
		r1 := min(r0+addChunk, rows)
		n := (r1 - r0) * s.in
		if cap(s.buf) < n {
			s.buf = make([]float64, n)
		}
		buf := s.buf[:n]
		for k, v := range x[r0*s.in : r1*s.in] {
			buf[k] = float64(v)
		}
		xs := mat.NewDense(r1-r0, s.in, buf)
		s.gram.SymRankK(s.gram, 1, xs.T()) // G += XᵀX
	}
	s.n += rows
	return nil
}

// Merge adds the rows accumulated in o to s, as if they had been added to s. It returns an
// error wrapping [ErrShape] when the numbers of inputs differ.
func (s *Stats) Merge(o *Stats) error {
	if o.in != s.in {
		return fmt.Errorf("%w: merging statistics of %d inputs into statistics of %d", ErrShape, o.in, s.in)
	}
	s.gram.AddSym(s.gram, o.gram)
	s.n += o.n
	return nil
}

// ColumnNorms returns ‖X_i‖₂ = sqrt(G_ii) for every input i: the norm of input i over all the
// calibration rows, Wanda's input-feature norm. (The official Wanda code keeps the mean square
// G_ii/N instead; that scales every norm by the same factor and leaves the masks unchanged.)
func (s *Stats) ColumnNorms() []float64 {
	norms := make([]float64, s.in)
	for i := range norms {
		norms[i] = math.Sqrt(s.gram.At(i, i))
	}
	return norms
}

// OutlierRatio is the largest input norm over the median one ([Stats.ColumnNorms]): how far the
// largest input feature stands out. Wanda's score |W|·‖X‖ differs from magnitude's where it is
// large: the "outlier features" of large language models reach about 100× the typical feature
// (Dettmers et al. 2022, "LLM.int8()"), where Wanda's paper finds its gains. 0 without rows or
// when the median norm is 0 (more than half the inputs never non-zero).
func (s *Stats) OutlierRatio() float64 {
	norms := s.ColumnNorms()
	if s.Rows() == 0 || len(norms) == 0 {
		return 0
	}
	sorted := slices.Clone(norms)
	slices.Sort(sorted)
	n := len(sorted)
	median := sorted[n/2]
	if n%2 == 0 {
		median = (sorted[n/2-1] + sorted[n/2]) / 2
	}
	if median == 0 {
		return 0
	}
	return sorted[n-1] / median
}

// Gram returns a copy of G = Σ xᵀx = XᵀX over the calibration rows.
func (s *Stats) Gram() *mat.SymDense {
	g := mat.NewSymDense(s.in, nil)
	g.CopySym(s.gram)
	return g
}

// Hessian returns H = 2XᵀX/N, the Hessian of the layer-wise loss ‖XW − XŴ‖²_F/N with respect
// to each output's weights, scaled as the official SparseGPT code accumulates it. With no rows
// it is the zero matrix. (The scale matters only through dampening, which is relative to
// mean(diag H) and so is scale-free too.)
func (s *Stats) Hessian() *mat.SymDense {
	h := s.Gram()
	if s.n > 0 {
		h.ScaleSym(2/float64(s.n), h)
	}
	return h
}
