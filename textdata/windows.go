package textdata

import (
	"fmt"
	"math/rand/v2"
)

// Windows draws training windows of T+1 bytes (T inputs, and the T next bytes as targets) at
// uniformly random offsets of a text, from a seeded source: the same text, T and seed give the same
// windows. It is not safe for concurrent use.
type Windows struct {
	text []byte
	t    int
	rng  *rand.Rand
}

// NewWindows returns a sampler of windows of t+1 bytes of text. It returns an error wrapping
// [ErrTooShort] when text holds no such window, or when t < 1.
func NewWindows(text []byte, t int, seed uint64) (*Windows, error) {
	if t < 1 || len(text) < t+1 {
		return nil, fmt.Errorf("textdata: %d bytes for windows of context %d: %w", len(text), t, ErrTooShort)
	}
	return &Windows{text: text, t: t, rng: rand.New(rand.NewPCG(seed, 0x77696e646f7773))}, nil
}

// Context is T, the number of inputs (and targets) per window.
func (w *Windows) Context() int { return w.t }

// Next returns n windows of T+1 bytes. They are views into the text: do not modify them.
func (w *Windows) Next(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		start := w.rng.IntN(len(w.text) - w.t)
		out[i] = w.text[start : start+w.t+1 : start+w.t+1]
	}
	return out
}

// SequentialWindows lays windows of t+1 bytes end to end over text for evaluation: window i starts
// at i·t, so each window's targets (its last t bytes) follow the previous one's, and every byte of
// text but the first is a target exactly once, up to a last partial window, which is dropped. The
// windows are views into text. It panics if t < 1.
func SequentialWindows(text []byte, t int) [][]byte {
	if t < 1 {
		panic(fmt.Sprintf("textdata.SequentialWindows: context %d < 1", t))
	}
	var out [][]byte
	for start := 0; start+t+1 <= len(text); start += t {
		out = append(out, text[start:start+t+1:start+t+1])
	}
	return out
}
