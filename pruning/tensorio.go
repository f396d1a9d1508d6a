package pruning

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// This file holds the helpers that move masks and weights between variables and Go in the
// variables' own dtype, without float64 copies: the path large models take.

// chunkSize is the number of elements one worker handles at a time in parallel loops.
const chunkSize = 1 << 18

// parallelFor runs fn(lo, hi) over [0, n) in chunks of chunkSize on GOMAXPROCS goroutines.
// worker identifies the goroutine (0 ≤ worker < workers), for per-worker accumulators.
func parallelFor(n int, fn func(worker, lo, hi int)) {
	numChunks := (n + chunkSize - 1) / chunkSize
	workers := min(runtime.GOMAXPROCS(0), numChunks)
	if workers <= 1 {
		for lo := 0; lo < n; lo += chunkSize {
			fn(0, lo, min(n, lo+chunkSize))
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				c := int(next.Add(1) - 1)
				if c >= numChunks {
					return
				}
				lo := c * chunkSize
				fn(w, lo, min(n, lo+chunkSize))
			}
		}()
	}
	wg.Wait()
}

// numWorkers is the number of workers parallelFor uses for n elements.
func numWorkers(n int) int {
	return max(1, min(runtime.GOMAXPROCS(0), (n+chunkSize-1)/chunkSize))
}

// float32Values returns the float32 values of v without copying them; ok is false if v is not
// float32. The slice is the tensor's own storage: it is valid until the variable's value is
// set again, and must not be written.
func float32Values(v *context.Variable) (values []float32, ok bool, err error) {
	if v.DType() != dtypes.Float32 {
		return nil, false, nil
	}
	t, err := v.Value()
	if err != nil {
		return nil, false, fmt.Errorf("pruning: %s: %w", v.ScopeAndName(), err)
	}
	err = t.ConstFlatData(func(flat any) { values, ok = flat.([]float32) })
	if err != nil {
		return nil, false, fmt.Errorf("pruning: %s: %w", v.ScopeAndName(), err)
	}
	return values, ok, nil
}

// readMask reads a mask variable into a Mask, checking that every entry is exactly 0 or 1.
func readMask(path string, m *context.Variable) (*Mask, error) {
	t, err := m.Value()
	if err != nil {
		return nil, fmt.Errorf("pruning: mask of %s: %w", path, err)
	}
	mask := &Mask{Shape: slices.Clone(m.Shape().Dimensions)}
	bad, badValue, supported := -1, 0.0, true
	err = t.ConstFlatData(func(flat any) {
		switch f := flat.(type) {
		case []float32:
			mask.Keep = make([]bool, len(f))
			bad, badValue = fillKeep(mask.Keep, f)
		case []float64:
			mask.Keep = make([]bool, len(f))
			bad, badValue = fillKeep(mask.Keep, f)
		default:
			supported = false
		}
	})
	if err != nil {
		return nil, fmt.Errorf("pruning: mask of %s: %w", path, err)
	}
	if !supported {
		return nil, fmt.Errorf("pruning: mask of %s: %w: %s", path, ErrUnsupportedDType, t.Shape().DType)
	}
	if bad >= 0 {
		return nil, fmt.Errorf("%s: %w: entry %d is %g, want exactly 0 or 1", path, ErrInvalidMask, bad, badValue)
	}
	return mask, nil
}

// fillKeep sets keep[i] = (f[i] == 1) and returns the first index whose value is neither 0
// nor 1 (-1 if none) and that value. (-0 counts as 0.)
func fillKeep[F float32 | float64](keep []bool, f []F) (int, float64) {
	var invalid atomic.Bool
	parallelFor(len(f), func(_, lo, hi int) {
		var bad uint8
		k := boolBytes(keep[lo:hi])
		if f32, ok := any(f[lo:hi]).([]float32); ok { // compare bits: fewer instructions than float compares
			k = k[:len(f32)]
			for i, x := range f32 {
				b := math.Float32bits(x)
				one, zero := b2u(b == 0x3f800000), b2u(b<<1 == 0) // 1, or ±0
				k[i] = one
				bad |= 1 ^ (one | zero)
			}
		} else {
			for i, x := range f[lo:hi] {
				one, zero := b2u(x == 1), b2u(x == 0)
				k[i] = one
				bad |= 1 ^ (one | zero)
			}
		}
		if bad != 0 {
			invalid.Store(true)
		}
	})
	if invalid.Load() {
		for i, x := range f {
			if x != 0 && x != 1 {
				return i, float64(x)
			}
		}
	}
	return -1, 0
}

// b2u converts a bool to 0 or 1 without a branch.
func b2u(b bool) uint8 {
	var u uint8
	if b {
		u = 1
	}
	return u
}

// maskTensor makes the tensor of a mask in the given dtype: 1 where kept, 0 where pruned.
func maskTensor(dtype dtypes.DType, m *Mask) (*tensors.Tensor, error) {
	switch dtype {
	case dtypes.Float32:
		return newTensor(m.Shape, func(out []float32) { fillOnes(out, m.Keep) }), nil
	case dtypes.Float64:
		return newTensor(m.Shape, func(out []float64) { fillOnes(out, m.Keep) }), nil
	default:
		return nil, fmt.Errorf("%w: %s", ErrUnsupportedDType, dtype)
	}
}

// newTensor makes a local tensor of the given dimensions and fills it in place.
func newTensor[F float32 | float64](dims []int, fill func(out []F)) *tensors.Tensor {
	t := tensors.FromShape(shapes.Make(dtypes.FromGenericsType[F](), dims...))
	tensors.MustMutableFlatData(t, fill)
	return t
}

// fillOnes sets out[i] to 1 where keep[i] and to 0 elsewhere.
func fillOnes[F float32 | float64](out []F, keep []bool) {
	parallelFor(len(keep), func(_, lo, hi int) {
		o := out[lo:hi]
		for i, k := range keep[lo:hi] {
			o[i] = F(b2u(k))
		}
	})
}

// zeroPruned sets w = w·mask on the host, in place, in w's dtype; it does nothing if every
// pruned weight is already zero. Zeroed weights are +0.
func zeroPruned(w *context.Variable, mask *Mask) error {
	t, err := w.Value()
	if err != nil {
		return fmt.Errorf("pruning: %s: %w", w.ScopeAndName(), err)
	}
	dirty := false
	err = t.ConstFlatData(func(flat any) {
		switch f := flat.(type) {
		case []float32:
			dirty = anyPrunedNonZero(f, mask.Keep)
		case []float64:
			dirty = anyPrunedNonZero(f, mask.Keep)
		default:
			err = fmt.Errorf("%w: %s", ErrUnsupportedDType, t.Shape().DType)
		}
	})
	if err == nil && dirty {
		err = t.MutableFlatData(func(flat any) {
			switch f := flat.(type) {
			case []float32:
				parallelFor(len(f), func(_, lo, hi int) {
					for i, k := range mask.Keep[lo:hi] {
						f[lo+i] = math.Float32frombits(math.Float32bits(f[lo+i]) & -uint32(b2u(k)))
					}
				})
			case []float64:
				parallelFor(len(f), func(_, lo, hi int) {
					for i, k := range mask.Keep[lo:hi] {
						f[lo+i] = math.Float64frombits(math.Float64bits(f[lo+i]) & -uint64(b2u(k)))
					}
				})
			}
		})
	}
	if err != nil {
		return fmt.Errorf("pruning: %s: %w", w.ScopeAndName(), err)
	}
	return nil
}

// anyPrunedNonZero reports whether some weight with keep false is not zero.
func anyPrunedNonZero[F float32 | float64](f []F, keep []bool) bool {
	var dirty atomic.Bool
	parallelFor(len(f), func(_, lo, hi int) {
		if dirty.Load() {
			return
		}
		for i, k := range keep[lo:hi] {
			if !k && f[lo+i] != 0 {
				dirty.Store(true)
				return
			}
		}
	})
	return dirty.Load()
}

// writeMask sets the value of the mask variable m to mask, in place.
func writeMask(m *context.Variable, mask *Mask) error {
	t, err := m.Value()
	if err != nil {
		return fmt.Errorf("pruning: mask %s: %w", m.ScopeAndName(), err)
	}
	if !slices.Equal(t.Shape().Dimensions, mask.Shape) {
		return fmt.Errorf("%w: mask %s has shape %s, setting %v", ErrInvalidMask, m.ScopeAndName(), t.Shape(),
			mask.Shape)
	}
	err = t.MutableFlatData(func(flat any) {
		switch f := flat.(type) {
		case []float32:
			fillOnes(f, mask.Keep)
		case []float64:
			fillOnes(f, mask.Keep)
		default:
			err = fmt.Errorf("%w: %s", ErrUnsupportedDType, t.Shape().DType)
		}
	})
	if err != nil {
		return fmt.Errorf("pruning: mask %s: %w", m.ScopeAndName(), err)
	}
	return nil
}

// countTrue counts the true entries, eight at a time (a bool is one byte holding 0 or 1).
func countTrue(b []bool) int {
	var total atomic.Int64
	parallelFor(len(b), func(_, lo, hi int) {
		part := b[lo:hi]
		n := 0
		i := 0
		if len(part) >= 8 {
			bytes := unsafe.Slice((*byte)(unsafe.Pointer(&part[0])), len(part))
			for ; i+8 <= len(bytes); i += 8 {
				n += bits.OnesCount64(binary.LittleEndian.Uint64(bytes[i:]))
			}
		}
		for _, x := range part[i:] {
			if x {
				n++
			}
		}
		total.Add(int64(n))
	})
	return int(total.Load())
}

// firstNonFinite returns the index of the first NaN or infinite value, or -1.
func firstNonFinite(values []float64) int {
	for i, x := range values {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return i
		}
	}
	return -1
}
