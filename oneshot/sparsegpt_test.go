package oneshot

import (
	"errors"
	"math"
	"sort"
	"strings"
	"testing"
)

// referenceSparseGPT is a slow, independent implementation of SparseGPT for the tests: plain
// float64 loops, no gonum, no code shared with the package. It builds H = 2XᵀX/N from the rows,
// then processes the inputs one at a time, keeping the explicit inverse of the Hessian of the
// inputs not yet processed (Gauss-Jordan once, then a rank-one removal per input) and applying
// the full OBS update to all the remaining weights at once. Masks follow the package's rules:
// unstructured at each block start by the saliency w²/[H_F⁻¹]_ii over the block, N:M at each
// group start per output. It returns the weights before float32 rounding, and the mask.
func referenceSparseGPT(t *testing.T, l Layer, x []float32, rows int, p Pattern, blockSize int, percDamp float64) ([]float64, []bool) {
	t.Helper()
	in, out := l.In, l.Out
	h := make([][]float64, in)
	for a := range h {
		h[a] = make([]float64, in)
		for b := range h[a] {
			for r := range rows {
				h[a][b] += float64(x[r*in+a]) * float64(x[r*in+b])
			}
			h[a][b] *= 2 / float64(rows)
		}
	}
	w := make([][]float64, in) // w[i][j]: input i, output j
	for i := range w {
		w[i] = make([]float64, out)
		for j := range out {
			w[i][j] = float64(l.W[i*out+j])
		}
	}
	mean := 0.0
	for i := range in {
		if h[i][i] == 0 {
			h[i][i] = 1
			clear(w[i])
		}
		mean += h[i][i] / float64(in)
	}
	for i := range in {
		h[i][i] += percDamp * mean
	}
	// future[i] = [H_F⁻¹]_ii for F = {i, …, In−1}, each from its own inversion.
	future := make([]float64, in)
	for i := range in {
		sub := make([][]float64, in-i)
		for a := range sub {
			sub[a] = append([]float64(nil), h[i+a][i:]...)
		}
		future[i] = invert(t, sub)[0][0]
	}
	hinv := invert(t, h)

	keep := make([]bool, in*out)
	for k := range keep {
		keep[k] = true
	}
	total := out * int(math.RoundToEven(p.Sparsity*float64(in)))
	quota := func(i int) int { return int(math.RoundToEven(float64(total) * float64(i) / float64(in))) }
	type cand struct {
		s float64
		k int // flat index i*out+j
	}
	prune := func(cs []cand, n int) {
		sort.Slice(cs, func(a, b int) bool {
			if cs[a].s != cs[b].s {
				return cs[a].s < cs[b].s
			}
			return cs[a].k < cs[b].k
		})
		for _, c := range cs[:n] {
			keep[c.k] = false
		}
	}
	for i := range in {
		if !p.IsNM() && i%blockSize == 0 {
			var cs []cand
			for r := i; r < min(i+blockSize, in); r++ {
				for j := range out {
					cs = append(cs, cand{w[r][j] * w[r][j] / future[r], r*out + j})
				}
			}
			prune(cs, quota(min(i+blockSize, in))-quota(i))
		}
		if p.IsNM() && i%p.M == 0 {
			for j := range out {
				var cs []cand
				for r := i; r < i+p.M; r++ {
					cs = append(cs, cand{w[r][j] * w[r][j] / future[r], r*out + j})
				}
				prune(cs, p.M-p.N)
			}
		}
		if d := hinv[i][i]; math.Abs(d-future[i]) > 1e-9*d {
			t.Fatalf("reference: downdated [H⁻¹]_%d,%d = %g, direct inverse %g", i, i, d, future[i])
		}
		// OBS: remove w_ij (if pruned) and move the remaining weights by −w_ij/[H⁻¹]_ii·H⁻¹[:, i].
		for j := range out {
			if keep[i*out+j] {
				continue
			}
			e := w[i][j] / hinv[i][i]
			for r := i; r < in; r++ {
				w[r][j] -= e * hinv[r][i]
			}
			w[i][j] = 0
		}
		// Remove input i from the inverse: H_F'⁻¹ = H_F⁻¹ − H_F⁻¹[:, i] H_F⁻¹[i, :] / H_F⁻¹[i, i].
		for r := i + 1; r < in; r++ {
			for c := i + 1; c < in; c++ {
				hinv[r][c] -= hinv[r][i] * hinv[i][c] / hinv[i][i]
			}
		}
	}
	flat := make([]float64, in*out)
	for i := range in {
		copy(flat[i*out:], w[i])
	}
	return flat, keep
}

// invert returns the inverse of a by Gauss-Jordan elimination with partial pivoting.
func invert(t *testing.T, a [][]float64) [][]float64 {
	t.Helper()
	n := len(a)
	m := make([][]float64, n)
	for i := range m {
		m[i] = make([]float64, 2*n)
		copy(m[i], a[i])
		m[i][n+i] = 1
	}
	for c := range n {
		p := c
		for r := c + 1; r < n; r++ {
			if math.Abs(m[r][c]) > math.Abs(m[p][c]) {
				p = r
			}
		}
		if m[p][c] == 0 {
			t.Fatal("reference: singular matrix")
		}
		m[c], m[p] = m[p], m[c]
		for r := range n {
			if r == c || m[r][c] == 0 {
				continue
			}
			f := m[r][c] / m[c][c]
			for k := c; k < 2*n; k++ {
				m[r][k] -= f * m[c][k]
			}
		}
	}
	inv := make([][]float64, n)
	for i := range inv {
		inv[i] = make([]float64, n)
		for k := range n {
			inv[i][k] = m[i][n+k] / m[i][i]
		}
	}
	return inv
}

func TestSparseGPTMatchesReference(t *testing.T) {
	for _, tc := range []struct {
		name      string
		in, out   int
		pattern   Pattern
		blockSize int // 0: default, larger than In
		dead      int // an input always zero, or -1
	}{
		{"unstructured/one block", 64, 32, Unstructured(0.5), 0, -1},
		{"unstructured/blocks of 16", 64, 32, Unstructured(0.5), 16, -1},
		{"unstructured/blocks of 24, uneven quotas", 64, 12, Unstructured(0.3), 24, -1},
		{"unstructured/blocks of 16, dead input", 64, 32, Unstructured(0.5), 16, 5},
		{"2:4/one block", 64, 32, NM(2, 4), 0, -1},
		{"2:4/blocks of 8", 64, 32, NM(2, 4), 8, -1},
		{"2:4/blocks of 6 (rounded to 8)", 64, 32, NM(2, 4), 6, -1},
		{"4:8/blocks of 16", 64, 32, NM(4, 8), 16, -1},
		{"1:4/blocks of 16, dead input", 64, 16, NM(1, 4), 16, 9},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, 7, tc.in, tc.out, 256)
			if tc.dead >= 0 {
				for r := range f.rows {
					f.x[r*tc.in+tc.dead] = 0
				}
				f.stats = NewStats(tc.in)
				if err := f.stats.Add(f.x, f.rows); err != nil {
					t.Fatal(err)
				}
			}
			w, keep, err := SparseGPT(f.layer, f.stats, tc.pattern, SparseGPTOptions{BlockSize: tc.blockSize})
			if err != nil {
				t.Fatal(err)
			}
			checkPattern(t, keep, tc.in, tc.out, tc.pattern)
			bs := tc.blockSize
			if bs == 0 {
				bs = DefaultBlockSize
			}
			wantW, wantKeep := referenceSparseGPT(t, f.layer, f.x, f.rows, tc.pattern, bs, DefaultPercDamp)
			scale := 0.0
			for _, v := range wantW {
				scale = max(scale, math.Abs(v))
			}
			const tol = 1e-6 // relative to the largest weight; float32 rounding alone is ~6e-8
			worst := 0.0
			defer func() { t.Logf("largest |Δ| / max|W| = %.2g", worst) }()
			for k := range w {
				if keep[k] != wantKeep[k] {
					t.Fatalf("input %d, output %d: kept %v, reference %v", k/tc.out, k%tc.out, keep[k], wantKeep[k])
				}
				if !keep[k] && w[k] != 0 {
					t.Fatalf("input %d, output %d: pruned weight is %g, want exactly 0", k/tc.out, k%tc.out, w[k])
				}
				d := math.Abs(float64(w[k]) - wantW[k])
				worst = max(worst, d/scale)
				if d > tol*scale {
					t.Fatalf("input %d, output %d: weight %g, reference %g (|Δ| %g > %g)", k/tc.out, k%tc.out,
						w[k], wantW[k], d, tol*scale)
				}
			}
			if tc.dead >= 0 {
				for j := range tc.out {
					if w[tc.dead*tc.out+j] != 0 {
						t.Fatalf("dead input %d, output %d: weight %g, want 0", tc.dead, j, w[tc.dead*tc.out+j])
					}
				}
			}
		})
	}
}

// For N:M patterns the block size changes only the order of floating-point operations.
func TestSparseGPTNMBlockSizeInvariant(t *testing.T) {
	f := newFixture(t, 3, 64, 16, 256)
	w1, k1, err := SparseGPT(f.layer, f.stats, NM(2, 4), SparseGPTOptions{BlockSize: 4})
	if err != nil {
		t.Fatal(err)
	}
	w2, k2, err := SparseGPT(f.layer, f.stats, NM(2, 4), SparseGPTOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for k := range w1 {
		if k1[k] != k2[k] || math.Abs(float64(w1[k]-w2[k])) > 1e-5 {
			t.Fatalf("weight %d: BlockSize 4 gives %g (kept %v), 128 gives %g (kept %v)", k, w1[k], k1[k], w2[k], k2[k])
		}
	}
}

func TestSparseGPTZeroSparsityKeepsWeights(t *testing.T) {
	f := newFixture(t, 4, 32, 8, 128)
	w, keep, err := SparseGPT(f.layer, f.stats, Unstructured(0), SparseGPTOptions{BlockSize: 8})
	if err != nil {
		t.Fatal(err)
	}
	for k := range w {
		if !keep[k] || w[k] != f.layer.W[k] {
			t.Fatalf("weight %d: %g (kept %v), want %g unchanged", k, w[k], keep[k], f.layer.W[k])
		}
	}
}

// Duplicated inputs make XᵀX singular; the default dampening makes it invertible.
func TestSparseGPTDuplicatedInputs(t *testing.T) {
	f := newFixture(t, 5, 32, 16, 128)
	for r := range f.rows {
		for i := 16; i < 32; i++ {
			f.x[r*32+i] = f.x[r*32+i-16]
		}
	}
	f.stats = NewStats(32)
	if err := f.stats.Add(f.x, f.rows); err != nil {
		t.Fatal(err)
	}
	for _, p := range []Pattern{Unstructured(0.5), NM(2, 4)} {
		w, keep, err := SparseGPT(f.layer, f.stats, p, SparseGPTOptions{})
		if err != nil {
			t.Fatalf("%v: %v", p, err)
		}
		checkPattern(t, keep, 32, 16, p)
		mag, err := Magnitude(f.layer, p)
		if err != nil {
			t.Fatal(err)
		}
		got, want := mustError(t, f, w), mustError(t, f, applyMask(f.layer, mag))
		if math.IsNaN(got) || got >= want {
			t.Errorf("%v: SparseGPT error %g, want below magnitude's %g", p, got, want)
		}
	}
}

func TestSparseGPTNotPositiveDefinite(t *testing.T) {
	// Two identical inputs: H = [[4 4] [4 4]], whose Cholesky factorization meets an exact
	// zero pivot (4 − 2·2) without dampening.
	l := Layer{Name: "tied", In: 2, Out: 1, W: []float32{1, -2}}
	s := NewStats(2)
	if err := s.Add([]float32{2, 2, 0, 0}, 2); err != nil {
		t.Fatal(err)
	}
	_, _, err := SparseGPT(l, s, Unstructured(0.5), SparseGPTOptions{PercDamp: -1})
	if !errors.Is(err, ErrNotPositiveDefinite) || !strings.Contains(err.Error(), "tied") {
		t.Fatalf("without dampening: err = %v, want ErrNotPositiveDefinite naming the layer", err)
	}
	w, keep, err := SparseGPT(l, s, Unstructured(0.5), SparseGPTOptions{})
	if err != nil {
		t.Fatalf("with default dampening: %v", err)
	}
	// Input 0 (saliency 1/[H⁻¹]_00) is pruned and its weight moved onto its twin: the outputs
	// change only through the dampening.
	if keep[0] || !keep[1] || w[0] != 0 {
		t.Fatalf("keep = %v, w = %v, want input 0 pruned", keep, w)
	}
	if rel := mustRelError(t, Layer{In: 2, Out: 1, W: l.W}, w, s); rel > 0.02 {
		t.Fatalf("relative error %g, want ≤ 0.02 (the twin takes over)", rel)
	}
}

func mustError(t *testing.T, f fixture, w []float32) float64 {
	t.Helper()
	e, err := ReconstructionError(f.layer, w, f.stats)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func mustRelError(t *testing.T, l Layer, w []float32, s *Stats) float64 {
	t.Helper()
	e, err := RelativeReconstructionError(l, w, s)
	if err != nil {
		t.Fatal(err)
	}
	return e
}
