package pruning

import "math/bits"

// This file reproduces which entries torch.topk selects on the CPU, ties included, so that
// [TiesLikeTorch] gives the masks torch.nn.utils.prune gives. PyTorch 1.13's CPU topk
// (aten/src/ATen/native/cpu/TopKImpl.h, topk_impl_loop) fills a queue of (value, index) pairs in
// input order, compares values only, and then calls libstdc++'s std::partial_sort when
// k·64 ≤ n and std::nth_element otherwise; the first k pairs of the queue are the result. Both
// algorithms are deterministic but not stable, so which of several equal values is chosen depends
// on their positions. The functions below follow libstdc++'s (bits/stl_algo.h, bits/stl_heap.h)
// step by step; scripts/peers/torch_masks.py checks the result against PyTorch.

// torchElem is one entry of topk's queue: a value and its position in the input.
type torchElem struct {
	v float64
	i int
}

// torchTopK returns the positions in vals of the k entries torch.topk(vals, k, largest) selects
// on the CPU, in no particular order. NaN values are not expected (the pruner rejects them).
func torchTopK(vals []float64, k int, largest bool) []int {
	n := len(vals)
	if k <= 0 || n == 0 {
		return nil
	}
	k = min(k, n)
	q := make([]torchElem, n)
	for i, v := range vals {
		q[i] = torchElem{v, i}
	}
	less := func(a, b torchElem) bool { return a.v < b.v }
	if largest {
		less = func(a, b torchElem) bool { return a.v > b.v }
	}
	if k*64 <= n {
		stdHeapSelect(q, 0, k, n, less) // std::partial_sort; its final sort_heap does not change the set
	} else {
		stdNthElement(q, k-1, less)
	}
	out := make([]int, k)
	for j := range out {
		out[j] = q[j].i
	}
	return out
}

type elemLess func(a, b torchElem) bool

// stdNthElement is libstdc++'s std::nth_element: __introselect with depth limit 2·⌊log2 n⌋.
func stdNthElement(a []torchElem, nth int, less elemLess) {
	first, last := 0, len(a)
	if first == last || nth == last {
		return
	}
	depth := 2 * (bits.Len(uint(last-first)) - 1)
	for last-first > 3 {
		if depth == 0 {
			stdHeapSelect(a, first, nth+1, last, less)
			a[first], a[nth] = a[nth], a[first]
			return
		}
		depth--
		mid := first + (last-first)/2
		stdMoveMedianToFirst(a, first, first+1, mid, last-1, less)
		cut := stdUnguardedPartition(a, first+1, last, first, less)
		if cut <= nth {
			first = cut
		} else {
			last = cut
		}
	}
	stdInsertionSort(a, first, last, less)
}

// stdMoveMedianToFirst is std::__move_median_to_first.
func stdMoveMedianToFirst(a []torchElem, result, x, y, z int, less elemLess) {
	switch {
	case less(a[x], a[y]):
		switch {
		case less(a[y], a[z]):
			a[result], a[y] = a[y], a[result]
		case less(a[x], a[z]):
			a[result], a[z] = a[z], a[result]
		default:
			a[result], a[x] = a[x], a[result]
		}
	case less(a[x], a[z]):
		a[result], a[x] = a[x], a[result]
	case less(a[y], a[z]):
		a[result], a[z] = a[z], a[result]
	default:
		a[result], a[y] = a[y], a[result]
	}
}

// stdUnguardedPartition is std::__unguarded_partition (Hoare partition around a[pivot]).
func stdUnguardedPartition(a []torchElem, first, last, pivot int, less elemLess) int {
	for {
		for less(a[first], a[pivot]) {
			first++
		}
		last--
		for less(a[pivot], a[last]) {
			last--
		}
		if first >= last {
			return first
		}
		a[first], a[last] = a[last], a[first]
		first++
	}
}

// stdInsertionSort is std::__insertion_sort on a[first:last].
func stdInsertionSort(a []torchElem, first, last int, less elemLess) {
	if first == last {
		return
	}
	for i := first + 1; i < last; i++ {
		val := a[i]
		if less(val, a[first]) {
			copy(a[first+1:i+1], a[first:i])
			a[first] = val
			continue
		}
		j := i
		for less(val, a[j-1]) {
			a[j] = a[j-1]
			j--
		}
		a[j] = val
	}
}

// stdHeapSelect is std::__heap_select: a max-heap (under less) of the first middle−first
// entries, replaced by any later entry less than its top.
func stdHeapSelect(a []torchElem, first, middle, last int, less elemLess) {
	stdMakeHeap(a, first, middle, less)
	for i := middle; i < last; i++ {
		if less(a[i], a[first]) {
			// std::__pop_heap(first, middle, i)
			v := a[i]
			a[i] = a[first]
			stdAdjustHeap(a, first, 0, middle-first, v, less)
		}
	}
}

// stdMakeHeap is std::__make_heap on a[first:last].
func stdMakeHeap(a []torchElem, first, last int, less elemLess) {
	n := last - first
	if n < 2 {
		return
	}
	for parent := (n - 2) / 2; ; parent-- {
		stdAdjustHeap(a, first, parent, n, a[first+parent], less)
		if parent == 0 {
			return
		}
	}
}

// stdAdjustHeap is std::__adjust_heap followed by std::__push_heap, on the heap a[first:first+n].
func stdAdjustHeap(a []torchElem, first, hole, n int, v torchElem, less elemLess) {
	top := hole
	child := hole
	for child < (n-1)/2 {
		child = 2 * (child + 1)
		if less(a[first+child], a[first+child-1]) {
			child--
		}
		a[first+hole] = a[first+child]
		hole = child
	}
	if n&1 == 0 && child == (n-2)/2 {
		child = 2 * (child + 1)
		a[first+hole] = a[first+child-1]
		hole = child - 1
	}
	parent := (hole - 1) / 2
	for hole > top && less(a[first+parent], v) {
		a[first+hole] = a[first+parent]
		hole = parent
		parent = (hole - 1) / 2
	}
	a[first+hole] = v
}
