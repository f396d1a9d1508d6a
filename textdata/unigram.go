package textdata

import (
	"fmt"
	"math"
)

// CrossEntropy is a byte-level model's mean negative log-likelihood of the bytes it predicted.
type CrossEntropy struct {
	// NatsPerByte is the mean of −ln p(byte) over the predicted bytes (NaN when there were none).
	NatsPerByte float64
	// Bytes is the number of bytes predicted.
	Bytes int
}

// BitsPerByte is the cross-entropy in bits: NatsPerByte / ln 2.
func (c CrossEntropy) BitsPerByte() float64 { return c.NatsPerByte / math.Ln2 }

// Perplexity is the per-byte perplexity: e^NatsPerByte (256 for a uniform guess).
func (c CrossEntropy) Perplexity() float64 { return math.Exp(c.NatsPerByte) }

// String reads e.g. "4.973 bits/byte, perplexity 31.41 over 1000 bytes".
func (c CrossEntropy) String() string {
	return fmt.Sprintf("%.3f bits/byte, perplexity %.2f over %d bytes", c.BitsPerByte(), c.Perplexity(), c.Bytes)
}

// UnigramModel is a distribution over the 256 byte values estimated from counts with add-one
// (Laplace) smoothing: p(b) = (Counts[b] + 1) / (Total + 256).
type UnigramModel struct {
	// Counts holds how often each byte occurs in the text the model was estimated from.
	Counts [256]int
	// Total is the length of that text.
	Total int
}

// Unigram estimates the byte distribution of train: the baseline a byte-level language model must
// beat, since it ignores all context. An empty train gives the uniform distribution.
func Unigram(train []byte) UnigramModel {
	var u UnigramModel
	for _, b := range train {
		u.Counts[b]++
	}
	u.Total = len(train)
	return u
}

// Prob returns the smoothed probability of byte b.
func (u UnigramModel) Prob(b byte) float64 {
	return float64(u.Counts[b]+1) / float64(u.Total+256)
}

// CrossEntropy is the model's cross-entropy on every byte of text.
func (u UnigramModel) CrossEntropy(text []byte) CrossEntropy {
	var counts [256]int
	for _, b := range text {
		counts[b]++
	}
	sum := 0.0
	for b, n := range counts {
		if n > 0 {
			sum -= float64(n) * math.Log(u.Prob(byte(b)))
		}
	}
	if len(text) == 0 {
		return CrossEntropy{NatsPerByte: math.NaN()}
	}
	return CrossEntropy{NatsPerByte: sum / float64(len(text)), Bytes: len(text)}
}
