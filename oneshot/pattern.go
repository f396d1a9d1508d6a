package oneshot

import (
	"fmt"
	"math"
	"strconv"
)

// Pattern is the sparsity to reach: unstructured when M is 0, N:M otherwise. The zero value
// prunes nothing.
type Pattern struct {
	// Sparsity, for unstructured patterns (M == 0), is the fraction of weights pruned, in [0, 1):
	// round(Sparsity·In) per output (rounded half to even).
	Sparsity float64

	// N and M, when M > 0, ask that of every M consecutive inputs of each output (W[g..g+M-1][j]
	// for g a multiple of M) exactly N weights be kept and M−N pruned, as pruning.NM counts them.
	// 1 ≤ N ≤ M, Sparsity must be 0, and the layer's In a multiple of M.
	N, M int
}

// Unstructured is the pattern that prunes the fraction sparsity of the weights of each output.
func Unstructured(sparsity float64) Pattern { return Pattern{Sparsity: sparsity} }

// NM is the N:M pattern: n weights kept of every m consecutive inputs of each output (2:4 is
// the pattern sparse tensor cores accelerate).
func NM(n, m int) Pattern { return Pattern{N: n, M: m} }

// IsNM reports whether p is an N:M pattern.
func (p Pattern) IsNM() bool { return p.M != 0 }

// String returns "2:4" for N:M patterns and the sparsity, e.g. "0.5", otherwise.
func (p Pattern) String() string {
	if p.IsNM() {
		return fmt.Sprintf("%d:%d", p.N, p.M)
	}
	return strconv.FormatFloat(p.Sparsity, 'g', -1, 64)
}

// Validate returns an error wrapping [ErrInvalidPattern] when p is not a valid pattern (for any
// layer; the methods also check that In is a multiple of M).
func (p Pattern) Validate() error {
	if reason := p.invalid(); reason != "" {
		return fmt.Errorf("%w: %s", ErrInvalidPattern, reason)
	}
	return nil
}

// invalid returns why p is not a valid pattern, or "".
func (p Pattern) invalid() string {
	switch {
	case p.M < 0:
		return fmt.Sprintf("N:M with M=%d", p.M)
	case p.IsNM() && (p.N < 1 || p.N > p.M):
		return fmt.Sprintf("%d:%d keeps N=%d of M=%d, want 1 ≤ N ≤ M", p.N, p.M, p.N, p.M)
	case p.IsNM() && p.Sparsity != 0:
		return fmt.Sprintf("%d:%d with Sparsity %v: give one or the other", p.N, p.M, p.Sparsity)
	case !p.IsNM() && p.N != 0:
		return fmt.Sprintf("N=%d without M", p.N)
	case !p.IsNM() && !(p.Sparsity >= 0 && p.Sparsity < 1): // also rejects NaN
		return fmt.Sprintf("sparsity %v outside [0, 1)", p.Sparsity)
	}
	return ""
}

// checkFor validates p for layer l.
func (p Pattern) checkFor(l Layer) error {
	if reason := p.invalid(); reason != "" {
		return fmt.Errorf("%w: %s: %s", ErrInvalidPattern, l.label(), reason)
	}
	if p.IsNM() && l.In%p.M != 0 {
		return fmt.Errorf("%w: %s: In=%d is not a multiple of M=%d", ErrInvalidPattern, l.label(), l.In, p.M)
	}
	return nil
}

// perOutput is the number of weights an unstructured pattern prunes per output of a layer
// with in inputs (or of in weights ranked together).
func (p Pattern) perOutput(in int) int {
	return int(math.RoundToEven(p.Sparsity * float64(in)))
}
