package pruning

import (
	"fmt"
	"math"
	"unsafe"

	"github.com/gomlx/gomlx/pkg/ml/context"
)

// This file selects the weights of smallest magnitude among many float32 weights without
// sorting them and without copying them: a two-pass radix selection on the bits of |w|. For
// finite floats the order of |x| is the order of the 31 low bits of x read as an integer, so
// one pass counts entries by the 16 high bits of that key, which locates the bucket holding
// the selection threshold, and a second pass counts the entries of that bucket by their 16 low
// bits, which gives the exact threshold T and the number of entries below it. A third pass
// prunes every entry below T and, of the entries equal to T, as many as the budget still
// allows, first layer first and lowest index first. Every pass runs on all cores and reads the
// weights in place; memory use is one histogram of 65,536 counters per core (see
// BenchmarkGlobalMagnitude100M).

// magKey is the order-preserving integer key of |x|; keys ≥ nonFiniteKey are NaN or ±Inf.
func magKey(x float32) uint32 { return math.Float32bits(x) &^ (1 << 31) }

const nonFiniteKey = 0x7f800000

// magLayer is one layer of a magnitude selection: its weights, read in place, and its mask,
// which the selection updates.
type magLayer struct {
	path string
	w    []float32
	keep []bool
}

// segment is a chunk of one layer, the unit of parallel work; segments are in layer order, and
// within a layer in index order, so that ties are broken by position.
type segment struct{ layer, lo, hi int }

func segments(layers []magLayer) []segment {
	var segs []segment
	for l, ml := range layers {
		for lo := 0; lo < len(ml.w); lo += chunkSize {
			segs = append(segs, segment{l, lo, min(len(ml.w), lo+chunkSize)})
		}
	}
	return segs
}

// pruneSmallestMagnitude prunes, in the layers' keep slices, the need kept weights of smallest
// magnitude over all the layers together; of equal magnitudes, those of the first layer and
// lowest index go first. need must not exceed the number of kept weights. It returns an error
// wrapping [ErrNotFinite] naming the first NaN or infinite weight, in which case nothing changes.
func pruneSmallestMagnitude(layers []magLayer, need int) error {
	segs := segments(layers)
	if len(segs) == 0 {
		return nil
	}
	workers := numWorkers(len(segs) * chunkSize)
	// parallelFor over a virtual range of one chunk per segment hands out segment indexes.
	forSegments := func(fn func(worker, i int, s segment)) {
		parallelFor(len(segs)*chunkSize, func(worker, lo, _ int) { fn(worker, lo/chunkSize, segs[lo/chunkSize]) })
	}

	// Pass 1: histogram of the high 16 bits of the keys of kept weights; find non-finite weights.
	// Counters are uint32 (enough for 4G weights), indexed through an array pointer with a
	// 16-bit index so that the loop has no bounds checks.
	hist := make([]*[1 << 16]uint32, workers)
	for w := range hist {
		hist[w] = new([1 << 16]uint32)
	}
	firstBad := make([]int, len(segs)) // index of the first non-finite weight of each segment, or -1
	forSegments(func(worker, si int, s segment) {
		h := hist[worker]
		w, keep := layers[s.layer].w[s.lo:s.hi], boolBytes(layers[s.layer].keep[s.lo:s.hi])
		keep = keep[:len(w)]
		bad := -1
		var nonFinite uint8
		for i, x := range w {
			k := magKey(x)
			nonFinite |= b2u(k >= nonFiniteKey)
			// Pruned weights count in unused buckets (keys of finite floats are < 0x7f80_0000).
			h[uint16(k>>16)|uint16(keep[i]^1)<<15]++
		}
		if nonFinite != 0 {
			for i, x := range w {
				if magKey(x) >= nonFiniteKey {
					bad = s.lo + i
					break
				}
			}
		}
		firstBad[si] = bad
	})
	for i, bad := range firstBad {
		if bad >= 0 {
			l := layers[segs[i].layer]
			return fmt.Errorf("%w: %s: weight %d is %g", ErrNotFinite, l.path, bad, l.w[bad])
		}
	}
	if need <= 0 {
		return nil
	}
	high, below := bucketOf(mergeHistograms(hist), need)

	// Pass 2: histogram of the low 16 bits of the keys in bucket high.
	for _, h := range hist {
		clear(h[:])
	}
	forSegments(func(worker, si int, s segment) {
		h := hist[worker]
		w, keep := layers[s.layer].w[s.lo:s.hi], layers[s.layer].keep[s.lo:s.hi]
		keep = keep[:len(w)]
		for i, x := range w {
			if k := magKey(x); k>>16 == high && keep[i] {
				h[uint16(k)]++
			}
		}
	})
	low, belowInBucket := bucketOf(mergeHistograms(hist), need-below)
	threshold := high<<16 | low
	ties := need - below - belowInBucket // entries equal to the threshold to prune, ≥ 1

	// Pass 3: prune below the threshold, count ties per segment; then prune the first ties.
	tiesIn := make([]int, len(segs))
	forSegments(func(_, si int, s segment) {
		w, keep := layers[s.layer].w[s.lo:s.hi], boolBytes(layers[s.layer].keep[s.lo:s.hi])
		keep = keep[:len(w)]
		n := 0
		for i, x := range w {
			k := magKey(x)
			kept := keep[i] & b2u(k >= threshold)
			keep[i] = kept
			n += int(kept & b2u(k == threshold))
		}
		tiesIn[si] = n
	})
	for i, s := range segs {
		if ties == 0 {
			break
		}
		if tiesIn[i] == 0 {
			continue
		}
		w, keep := layers[s.layer].w[s.lo:s.hi], layers[s.layer].keep[s.lo:s.hi]
		for j, x := range w {
			if keep[j] && magKey(x) == threshold {
				keep[j] = false
				ties--
				if ties == 0 {
					break
				}
			}
		}
	}
	return nil
}

// mergeHistograms adds the workers' histograms into the first and returns it.
func mergeHistograms(hist []*[1 << 16]uint32) []uint32 {
	merged := hist[0]
	for _, h := range hist[1:] {
		for i, c := range h {
			merged[i] += c
		}
	}
	return merged[:]
}

// bucketOf returns the bucket holding the rank-th smallest entry (rank ≥ 1) of a histogram and
// the number of entries in the buckets below it.
func bucketOf(hist []uint32, rank int) (bucket uint32, below int) {
	for b, c := range hist {
		if below+int(c) >= rank {
			return uint32(b), below
		}
		below += int(c)
	}
	return uint32(len(hist) - 1), below // unreachable when rank ≤ the total count
}

// boolBytes views a []bool as the bytes (0 or 1) that hold it, for branch-free arithmetic.
func boolBytes(b []bool) []uint8 {
	return unsafe.Slice((*uint8)(unsafe.Pointer(unsafe.SliceData(b))), len(b))
}

// ranksByMagnitude reports whether c ranks single weights exactly as |w| does, so that
// unstructured pruning can select on the weights themselves: magnitude and the L1 and L2
// norm criteria.
func ranksByMagnitude(c Criterion) bool {
	switch c := c.(type) {
	case MagnitudeCriterion:
		return true
	case LnNormCriterion:
		return c.P == 1 || c.P == 2
	}
	return false
}

// computeMagnitude32 is the path of unstructured magnitude pruning of float32 variables: it
// selects on the weights in place with [pruneSmallestMagnitude], never materializing scores.
// It returns the numbers of weights pruned before and the new masks, or nil masks (and no
// error) when the path does not apply: a variable is not float32, or MinKeep binds (then the
// general path's greedy selection honours it).
func (p *pruner) computeMagnitude32(ctx *context.Context, targets []Target, a Amount) (prunedBefore []int,
	after []*Mask, err error) {
	layers := make([]magLayer, len(targets))
	prunedBefore = make([]int, len(targets))
	after = make([]*Mask, len(targets))
	infos := make([]Layer, len(targets))
	prunedNow := 0
	for i, t := range targets {
		w, m, err := weightAndMask(ctx, t.Path())
		if err != nil {
			return nil, nil, err
		}
		values, ok, err := float32Values(w)
		if err != nil {
			return nil, nil, err
		}
		if !ok {
			return nil, nil, nil
		}
		mask, err := readMask(t.Path(), m)
		if err != nil {
			return nil, nil, err
		}
		prunedBefore[i] = mask.NumPruned()
		infos[i] = Layer{Target: t, Pruned: prunedBefore[i]}
		prunedNow += prunedBefore[i]
		if p.cfg.Regrow {
			mask = NewMask(t.Shape...)
		}
		after[i] = mask // the selection prunes in place
		layers[i] = magLayer{path: t.Path(), w: values, keep: mask.Keep}
	}

	alloc := p.cfg.allocation()
	sparsities, err := alloc.LayerSparsities(infos, a)
	if err != nil {
		return nil, nil, err
	}
	_, layerWise := alloc.(LayerWise)
	prunePool := func(pool []magLayer, sparsity float64, prunedNow int) error {
		n, kept := 0, 0
		for _, l := range pool {
			n += len(l.keep)
			kept += countTrue(l.keep)
		}
		want := budgetOf(a, sparsity, float64(prunedNow), n)
		need := min(kept, want-(n-kept))
		return pruneSmallestMagnitude(pool, need)
	}
	if sparsities == nil { // global
		if err := prunePool(layers, -1, prunedNow); err != nil {
			return nil, nil, err
		}
	} else {
		for i, t := range targets {
			s, ok := sparsities[t.Path()]
			if !ok {
				return nil, nil, fmt.Errorf("pruning: allocation %s gave no sparsity for %s", alloc.Name(), t.Path())
			}
			if !(s >= 0 && s <= 1) {
				return nil, nil, fmt.Errorf("%w: allocation %s gave sparsity %g for %s", ErrInvalidAmount, alloc.Name(),
					s, t.Path())
			}
			if layerWise {
				s = -1
			}
			if err := prunePool(layers[i:i+1], s, infos[i].Pruned); err != nil {
				return nil, nil, err
			}
		}
	}
	if p.cfg.MinKeep > 0 {
		for i, t := range targets {
			if kept := after[i].NumKept(); kept < min(p.cfg.MinKeep, t.Size()) && kept < t.Size()-infos[i].Pruned {
				return nil, nil, nil // MinKeep binds: let the general path choose
			}
		}
	}
	return prunedBefore, after, nil
}
