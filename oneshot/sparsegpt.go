package oneshot

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/mat"
)

// Defaults of [SparseGPTOptions], those of the official SparseGPT code.
const (
	DefaultBlockSize = 128  // inputs per block
	DefaultPercDamp  = 0.01 // dampening, as a fraction of mean(diag H)
)

// SparseGPTOptions tunes [SparseGPT]. The zero value gives the defaults of the official code.
type SparseGPTOptions struct {
	// BlockSize is the number of inputs (rows of W here, columns in the paper) processed
	// together, their updates to later inputs applied lazily as one matrix product. 0 means
	// [DefaultBlockSize]; larger than In means one block. For N:M patterns it is rounded up to
	// a multiple of M, and it changes only the speed; for unstructured patterns it also sets
	// the granularity of the mask selection.
	BlockSize int

	// PercDamp sets the dampening λ = PercDamp·mean(diag H) added to the diagonal of the
	// Hessian before inverting it. 0 means [DefaultPercDamp]; a negative value means none.
	PercDamp float64
}

// SparseGPT prunes l to pattern p with the SparseGPT algorithm (Frantar & Alistarh 2023,
// "SparseGPT: Massive Language Models Can Be Accurately Pruned in One-Shot") and returns new
// weights w (layout [In][Out] as l.W, exact zeros where pruned) and the mask keep (true: kept).
// l is not modified.
//
// It follows the official fasterprune function. From the Hessian H = 2XᵀX/N ([Stats.Hessian]):
// inputs that were always zero ("dead", H_ii = 0) get H_ii = 1 and their weights zeroed;
// λ = PercDamp·mean(diag H) is added to the diagonal; U is the upper Cholesky factor of H⁻¹
// (H⁻¹ = UᵀU, both through gonum's mat.Cholesky), so that U_ii² is [H_F⁻¹]_ii for the inputs F
// = {i, …, In−1} not yet processed and U_i,r/U_ii is the OBS update direction. Inputs are then
// processed in order, in blocks of BlockSize:
//
//   - Mask selection, on the weights as updated so far, by the OBS saliency W_ij²/U_ii²:
//     unstructured patterns at the start of each block, over all the weights of the block
//     together (not per output); N:M patterns at the start of each group of M inputs, per
//     output.
//   - For input i, the error e_j = (W_ij − Q_ij)/U_ii of the pruned value Q_ij (0 or W_ij) is
//     propagated to the inputs r > i of the block at once, W_rj −= e_j·U_ir, and to the inputs
//     after the block by one product at the end of the block (lazy batched updates).
//
// This is where it departs from the official code: an unstructured block prunes exactly its
// quota of weights, round(K·i₂/In) − round(K·i₁/In) for the block of inputs [i₁, i₂) with
// K = Out·round(Sparsity·In), so the layer ends with exactly the sparsity of [Magnitude] and
// [Wanda]. (The official code prunes the weights at or below the k-th smallest saliency of each
// block, k = int(s·size): one more weight than asked, more with ties.) Equal saliencies are
// pruned in position order. The mask of dead inputs, whose weights are zero, is chosen like
// any other; with saliency 0 they are pruned first.
//
// Errors wrap [ErrShape], [ErrNotFinite], [ErrInvalidPattern], [ErrInvalidOptions],
// [ErrNoCalibration] (s nil or with no rows) or [ErrNotPositiveDefinite] (the Cholesky
// factorization of the dampened H or of H⁻¹ fails; more dampening usually helps).
func SparseGPT(l Layer, s *Stats, p Pattern, o SparseGPTOptions) (w []float32, keep []bool, err error) {
	if err := l.check(); err != nil {
		return nil, nil, err
	}
	if err := l.checkStats(s); err != nil {
		return nil, nil, err
	}
	if err := p.checkFor(l); err != nil {
		return nil, nil, err
	}
	if o.BlockSize < 0 || math.IsNaN(o.PercDamp) || math.IsInf(o.PercDamp, 0) {
		return nil, nil, fmt.Errorf("%w: %s: BlockSize %d, PercDamp %v", ErrInvalidOptions, l.label(),
			o.BlockSize, o.PercDamp)
	}
	blockSize, percDamp := o.BlockSize, o.PercDamp
	if blockSize == 0 {
		blockSize = DefaultBlockSize
	}
	if p.IsNM() {
		blockSize = (blockSize + p.M - 1) / p.M * p.M
	}
	if percDamp == 0 {
		percDamp = DefaultPercDamp
	}
	percDamp = max(percDamp, 0)

	in, out := l.In, l.Out
	wf := make([]float64, in*out)
	for k, v := range l.W {
		wf[k] = float64(v)
	}
	u, err := inverseHessianFactor(l, s, percDamp, wf)
	if err != nil {
		return nil, nil, err
	}

	keep = make([]bool, in*out)
	for k := range keep {
		keep[k] = true
	}
	total := out * p.perOutput(in) // unstructured: weights pruned in all
	quotaBefore := func(i int) int { return int(math.RoundToEven(float64(total) * float64(i) / float64(in))) }
	errs := make([]float64, min(blockSize, in)*out)
	var cands []scored
	groupCands := make([]scored, p.M)
	for i1 := 0; i1 < in; i1 += blockSize {
		i2 := min(i1+blockSize, in)
		if !p.IsNM() {
			cands = cands[:0]
			for i := i1; i < i2; i++ {
				d2 := u[i*in+i] * u[i*in+i]
				for j, v := range wf[i*out : (i+1)*out] {
					cands = append(cands, scored{v * v / d2, i*out + j})
				}
			}
			for _, c := range lowest(cands, quotaBefore(i2)-quotaBefore(i1)) {
				keep[c.index] = false
			}
		}
		for i := i1; i < i2; i++ {
			if p.IsNM() && i%p.M == 0 {
				selectNM(wf, u, keep, groupCands, i, in, out, p)
			}
			d := u[i*in+i]
			row, e := wf[i*out:(i+1)*out], errs[(i-i1)*out:(i-i1+1)*out]
			for j, v := range row {
				if keep[i*out+j] {
					e[j] = 0
				} else {
					e[j], row[j] = v/d, 0
				}
			}
			if i+1 < i2 { // W[i+1:i2] -= U[i, i+1:i2]ᵀ ⊗ e
				blas64.Ger(-1,
					blas64.Vector{N: i2 - i - 1, Data: u[i*in+i+1:], Inc: 1},
					blas64.Vector{N: out, Data: e, Inc: 1},
					blas64.General{Rows: i2 - i - 1, Cols: out, Stride: out, Data: wf[(i+1)*out:]})
			}
		}
		if i2 < in { // W[i2:] -= U[i1:i2, i2:]ᵀ · E
			blas64.Gemm(blas.Trans, blas.NoTrans, -1,
				blas64.General{Rows: i2 - i1, Cols: in - i2, Stride: in, Data: u[i1*in+i2:]},
				blas64.General{Rows: i2 - i1, Cols: out, Stride: out, Data: errs},
				1, blas64.General{Rows: in - i2, Cols: out, Stride: out, Data: wf[i2*out:]})
		}
	}

	w = make([]float32, in*out)
	for k, v := range wf {
		w[k] = float32(v)
	}
	return w, keep, nil
}

// inverseHessianFactor returns U (In×In row-major, upper triangle; the lower one is zero) with
// UᵀU = H⁻¹ for the dampened Hessian of s, and zeroes the rows of wf of dead inputs.
func inverseHessianFactor(l Layer, s *Stats, percDamp float64, wf []float64) ([]float64, error) {
	in, out := l.In, l.Out
	h := s.Hessian()
	var trace float64
	for i := range in {
		if h.At(i, i) == 0 { // dead input: never nonzero in the calibration data
			h.SetSym(i, i, 1)
			clear(wf[i*out : (i+1)*out])
		}
		trace += h.At(i, i)
	}
	damp := percDamp * trace / float64(in)
	for i := range in {
		h.SetSym(i, i, h.At(i, i)+damp)
	}

	var ch mat.Cholesky
	if !ch.Factorize(h) {
		return nil, fmt.Errorf("%w: %s: Cholesky factorization of H + λI failed (λ = %g, %g·mean(diag H))",
			ErrNotPositiveDefinite, l.label(), damp, percDamp)
	}
	hinv := mat.NewSymDense(in, nil)
	if err := ch.InverseTo(hinv); err != nil {
		// A finite condition number above mat.ConditionTolerance still gives an inverse (as
		// torch.cholesky_inverse would); only a failed inversion stops here.
		var c mat.Condition
		if !errors.As(err, &c) || math.IsInf(float64(c), 1) {
			return nil, fmt.Errorf("%w: %s: inverting H + λI failed (λ = %g): %v", ErrNotPositiveDefinite,
				l.label(), damp, err)
		}
	}
	if !ch.Factorize(hinv) {
		return nil, fmt.Errorf("%w: %s: Cholesky factorization of (H + λI)⁻¹ failed (λ = %g)",
			ErrNotPositiveDefinite, l.label(), damp)
	}
	raw := ch.RawU().(mat.RawTriangular).RawTriangular()
	u := make([]float64, in*in)
	for i := range in {
		copy(u[i*in+i:(i+1)*in], raw.Data[i*raw.Stride+i:i*raw.Stride+in])
	}
	return u, nil
}

// selectNM prunes, for every output, the M−N inputs of lowest saliency W_rj²/U_rr² among inputs
// g, …, g+M−1; cands is scratch space of M candidates.
func selectNM(wf, u []float64, keep []bool, cands []scored, g, in, out int, p Pattern) {
	for j := range out {
		for k := range cands {
			r := g + k
			d := u[r*in+r]
			v := wf[r*out+j]
			cands[k] = scored{v * v / (d * d), r}
		}
		for _, c := range lowest(cands, p.M-p.N) {
			keep[c.index*out+j] = false
		}
	}
}
