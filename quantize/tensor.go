package quantize

import (
	"fmt"
	"math"
)

// Tensor is a per-channel symmetric INT8 tensor: element i stands for Values[i]·Scales[c] where c is
// its index along Axis.
type Tensor struct {
	Dims   []int
	Axis   int
	Scales []float32
	Values []int8
}

// channelLayout returns how many consecutive elements share a channel (inner) and the number of
// channels.
func channelLayout(dims []int, axis int) (inner, channels int) {
	inner = 1
	for _, d := range dims[axis+1:] {
		inner *= d
	}
	return inner, dims[axis]
}

// Channel returns the channel of element i.
func (t *Tensor) Channel(i int) int {
	inner, channels := channelLayout(t.Dims, t.Axis)
	return (i / inner) % channels
}

// NewTensor quantizes values (row-major, shaped dims) per channel along axis, with the clipping
// ratio clips[c] (in (0, 1]) for channel c; a nil clips means 1 for every channel. A channel of
// zeros gets scale 0.
func NewTensor(values []float32, dims []int, axis int, clips []float64) (*Tensor, error) {
	n := 1
	for _, d := range dims {
		if d < 0 {
			return nil, fmt.Errorf("quantize: negative dimension in %v", dims)
		}
		n *= d
	}
	if n != len(values) {
		return nil, fmt.Errorf("quantize: %d values for shape %v", len(values), dims)
	}
	if axis < 0 {
		axis += len(dims)
	}
	if axis < 0 || axis >= len(dims) {
		return nil, fmt.Errorf("quantize: axis %d out of range for shape %v", axis, dims)
	}
	inner, channels := channelLayout(dims, axis)
	if clips != nil && len(clips) != channels {
		return nil, fmt.Errorf("quantize: %d clipping ratios for %d channels", len(clips), channels)
	}
	maxAbs := make([]float64, channels)
	for i, v := range values {
		c := (i / inner) % channels
		maxAbs[c] = math.Max(maxAbs[c], math.Abs(float64(v)))
	}
	t := &Tensor{Dims: append([]int(nil), dims...), Axis: axis, Scales: make([]float32, channels), Values: make([]int8, n)}
	for c := range channels {
		clip := 1.0
		if clips != nil {
			clip = clips[c]
			if !(clip > 0 && clip <= 1) {
				return nil, fmt.Errorf("quantize: clipping ratio %g for channel %d, want (0, 1]", clip, c)
			}
		}
		t.Scales[c] = float32(clip * maxAbs[c] / 127)
	}
	for i, v := range values {
		t.Values[i] = quantizeValue(v, t.Scales[(i/inner)%channels])
	}
	return t, nil
}

// quantizeValue rounds v/s to the nearest integer in [−127, 127] (0 for s = 0).
func quantizeValue(v, s float32) int8 {
	if s == 0 {
		return 0
	}
	q := math.Round(float64(v) / float64(s))
	return int8(math.Max(-127, math.Min(127, q)))
}

// Dequantize returns the float32 values the tensor stands for.
func (t *Tensor) Dequantize() []float32 {
	inner, channels := channelLayout(t.Dims, t.Axis)
	out := make([]float32, len(t.Values))
	for i, q := range t.Values {
		out[i] = float32(q) * t.Scales[(i/inner)%channels]
	}
	return out
}

// Validate checks that the sizes agree.
func (t *Tensor) Validate() error {
	n := 1
	for _, d := range t.Dims {
		if d < 0 {
			return fmt.Errorf("quantize: negative dimension in %v", t.Dims)
		}
		n *= d
	}
	if t.Axis < 0 || t.Axis >= len(t.Dims) {
		return fmt.Errorf("quantize: axis %d out of range for shape %v", t.Axis, t.Dims)
	}
	if n != len(t.Values) || len(t.Scales) != t.Dims[t.Axis] {
		return fmt.Errorf("quantize: shape %v with %d values and %d scales", t.Dims, len(t.Values), len(t.Scales))
	}
	return nil
}
