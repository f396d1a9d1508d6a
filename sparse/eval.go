package sparse

import (
	"fmt"
	"math"
	"slices"

	"github.com/prunelab/prunelab/internal/gomlxfix"
	"github.com/prunelab/prunelab/program"
)

// eval computes op i into pl.t[i].data from its operands.
func (pl *plan) eval(i int) error {
	p := pl.m.prog
	op := &p.Ops[i]
	out := &pl.t[i]
	in := make([]*tensor, len(op.Inputs))
	for k, j := range op.Inputs {
		in[k] = &pl.t[j]
	}
	if fn, ok := unaryFns[op.Type]; ok {
		for k, v := range in[0].data {
			out.data[k] = fn(v)
		}
		return nil
	}
	if fn, ok := binaryFns[op.Type]; ok {
		// Arithmetic run by run (gomlxfix's loops); comparisons and the rest element by element.
		if !gomlxfix.Elementwise(op.Type, out.data, in[0].data, in[1].data, out.dims, in[0].dims, in[1].dims) {
			broadcastBinary(out, in[0], in[1], fn)
		}
		return nil
	}
	switch op.Type {
	case "Constant":
		for k, v := range op.Value {
			out.data[k] = float32(v)
		}
	case "Iota":
		st := strides(out.dims)
		for k := range out.data {
			out.data[k] = float32((k / st[op.Axis]) % out.dims[op.Axis])
		}
	case "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProduct":
		reduce(out, in[0], op.Axes, op.Type)
	case "BroadcastInDim":
		broadcastInDim(out, in[0], op.Axes)
	case "Transpose":
		transpose(out, in[0], op.Axes)
	case "Slice":
		slice(out, in[0], program.Resolve(op.Starts, pl.batch), op.Strides)
	case "Concatenate":
		concatenate(out, in, op.Axis)
	case "Where":
		where(out, in[0], in[1], in[2])
	case "ConvGeneral":
		x, k, c := in[0], in[1], op.Conv
		clear(out.data)
		gomlxfix.Conv2DChannelsLast(out.data, x.data, k.data, gomlxfix.Conv2DShape{
			Batch: x.dims[0], Height: x.dims[1], Width: x.dims[2], InChannels: x.dims[3],
			KernelHeight: k.dims[0], KernelWidth: k.dims[1], OutChannels: k.dims[3],
			OutHeight: out.dims[1], OutWidth: out.dims[2],
			Strides: [2]int{c.Strides[0], c.Strides[1]}, Paddings: [2][2]int{c.Paddings[0], c.Paddings[1]},
		})
	case "Dot", "DotGeneral":
		l, r := in[0], in[1]
		if w, ok := pl.m.weights[i]; ok {
			w.mul(out.data, l.data, len(l.data)/w.info.Rows)
			break
		}
		if op.Type == "Dot" {
			DenseMatMul(out.data, l.data, r.data, l.dims[0], l.dims[1], r.dims[1], false)
			break
		}
		dotGeneral(out, l, r, op.Contracting[0], op.Batch[0], op.Contracting[1], op.Batch[1])
	default:
		return fmt.Errorf("%w: op #%d %s", ErrUnsupported, i, op.Type)
	}
	return nil
}

// operandStrides returns, for an operand of the same rank as out whose dimensions are equal or 1,
// its strides with 0 on broadcast axes.
func operandStrides(x *tensor, outDims []int) []int {
	st := strides(x.dims)
	bs := make([]int, len(outDims))
	if len(x.dims) == 0 {
		return bs // scalar: every stride 0
	}
	for a := range outDims {
		if x.dims[a] != 1 || outDims[a] == 1 {
			bs[a] = st[a]
		}
	}
	return bs
}

// forEach calls fn for every index of dims (row-major) with the flat offsets of up to three
// operands given by their strides.
func forEach(dims []int, st [][]int, fn func(o int, off []int)) {
	n := size(dims)
	if n == 0 {
		return
	}
	rank := len(dims)
	idx := make([]int, rank)
	off := make([]int, len(st))
	for o := 0; o < n; o++ {
		fn(o, off)
		for a := rank - 1; a >= 0; a-- {
			idx[a]++
			for k := range st {
				off[k] += st[k][a]
			}
			if idx[a] < dims[a] {
				break
			}
			for k := range st {
				off[k] -= st[k][a] * dims[a]
			}
			idx[a] = 0
		}
	}
}

// broadcastBinary sets out = fn(a, b) with size-1 (or scalar) broadcasting.
func broadcastBinary(out, a, b *tensor, fn func(x, y float32) float32) {
	n := len(out.data)
	switch {
	case len(a.data) == n && len(b.data) == n:
		ad, bd := a.data[:n], b.data[:n]
		for k := range out.data {
			out.data[k] = fn(ad[k], bd[k])
		}
		return
	case len(a.data) == n && isSuffix(b.dims, out.dims):
		m := len(b.data)
		for k := range out.data {
			out.data[k] = fn(a.data[k], b.data[k%m])
		}
		return
	case len(b.data) == n && isSuffix(a.dims, out.dims):
		m := len(a.data)
		for k := range out.data {
			out.data[k] = fn(a.data[k%m], b.data[k])
		}
		return
	}
	forEach(out.dims, [][]int{operandStrides(a, out.dims), operandStrides(b, out.dims)}, func(o int, off []int) {
		out.data[o] = fn(a.data[off[0]], b.data[off[1]])
	})
}

// isSuffix reports whether x (same rank as out, or scalar) only broadcasts along leading axes:
// its values repeat with period len(x) over out.
func isSuffix(x, out []int) bool {
	if len(x) == 0 {
		return true
	}
	if len(x) != len(out) {
		return false
	}
	leading := true
	for a := range x {
		switch {
		case leading && x[a] == 1:
		case x[a] == out[a]:
			leading = false
		default:
			return false
		}
	}
	return true
}

func where(out, c, t, f *tensor) {
	forEach(out.dims, [][]int{operandStrides(c, out.dims), operandStrides(t, out.dims), operandStrides(f, out.dims)},
		func(o int, off []int) {
			if c.data[off[0]] != 0 {
				out.data[o] = t.data[off[1]]
			} else {
				out.data[o] = f.data[off[2]]
			}
		})
}

func reduce(out, x *tensor, axes []int, kind string) {
	start := float32(0)
	var fn func(acc, v float32) float32
	switch kind {
	case "ReduceSum":
		fn = func(acc, v float32) float32 { return acc + v }
	case "ReduceMax":
		start = float32(math.Inf(-1))
		fn = func(acc, v float32) float32 { return max(acc, v) }
	case "ReduceMin":
		start = float32(math.Inf(1))
		fn = func(acc, v float32) float32 { return min(acc, v) }
	default:
		start = 1
		fn = func(acc, v float32) float32 { return acc * v }
	}
	for k := range out.data {
		out.data[k] = start
	}
	// Output strides expressed on x's axes (0 on reduced axes).
	reduced := make([]bool, len(x.dims))
	for _, a := range axes {
		reduced[a] = true
	}
	var keptDims []int
	for a, d := range x.dims {
		if !reduced[a] {
			keptDims = append(keptDims, d)
		}
	}
	ost := strides(keptDims)
	st := make([]int, len(x.dims))
	k := 0
	for a := range x.dims {
		if !reduced[a] {
			st[a] = ost[k]
			k++
		}
	}
	forEach(x.dims, [][]int{st}, func(i int, off []int) {
		out.data[off[0]] = fn(out.data[off[0]], x.data[i])
	})
}

func broadcastInDim(out, x *tensor, axes []int) {
	if len(x.data) == 1 {
		v := x.data[0]
		for k := range out.data {
			out.data[k] = v
		}
		return
	}
	xs := strides(x.dims)
	st := make([]int, len(out.dims))
	for k, a := range axes {
		if x.dims[k] != 1 {
			st[a] = xs[k]
		}
	}
	forEach(out.dims, [][]int{st}, func(o int, off []int) { out.data[o] = x.data[off[0]] })
}

func transpose(out, x *tensor, perm []int) {
	xs := strides(x.dims)
	st := make([]int, len(out.dims))
	for a, p := range perm {
		st[a] = xs[p]
	}
	forEach(out.dims, [][]int{st}, func(o int, off []int) { out.data[o] = x.data[off[0]] })
}

func slice(out, x *tensor, starts, steps []int) {
	xs := strides(x.dims)
	base := 0
	st := make([]int, len(out.dims))
	for a := range out.dims {
		base += starts[a] * xs[a]
		st[a] = steps[a] * xs[a]
	}
	// Copy contiguous rows when the last axis is taken whole with stride 1.
	last := len(out.dims) - 1
	if last >= 0 && steps[last] == 1 {
		row := out.dims[last]
		rowDims := out.dims[:last]
		forEach(rowDims, [][]int{st[:last]}, func(o int, off []int) {
			copy(out.data[o*row:(o+1)*row], x.data[base+off[0]:base+off[0]+row])
		})
		return
	}
	forEach(out.dims, [][]int{st}, func(o int, off []int) { out.data[o] = x.data[base+off[0]] })
}

func concatenate(out *tensor, in []*tensor, axis int) {
	outer := size(out.dims[:axis])
	inner := size(out.dims[axis+1:])
	outRow := out.dims[axis] * inner
	pos := 0
	for _, x := range in {
		chunk := x.dims[axis] * inner
		for o := range outer {
			copy(out.data[o*outRow+pos:o*outRow+pos+chunk], x.data[o*chunk:(o+1)*chunk])
		}
		pos += chunk
	}
}

// dotGeneral computes XLA's DotGeneral: out[batch..., lhsFree..., rhsFree...] = sum over the
// contracting axes of lhs × rhs.
func dotGeneral(out, l, r *tensor, lc, lb, rc, rb []int) {
	ls, rs := strides(l.dims), strides(r.dims)
	free := func(rank int, c, b []int) []int {
		var f []int
		for a := range rank {
			if !slices.Contains(c, a) && !slices.Contains(b, a) {
				f = append(f, a)
			}
		}
		return f
	}
	offsets := gomlxfix.AxesOffsets
	lbOff, rbOff := offsets(l.dims, ls, lb), offsets(r.dims, rs, rb)
	lkOff, rkOff := offsets(l.dims, ls, lc), offsets(r.dims, rs, rc)
	mOff := offsets(l.dims, ls, free(len(l.dims), lc, lb))
	nOff := offsets(r.dims, rs, free(len(r.dims), rc, rb))
	M, N := len(mOff), len(nOff)
	clear(out.data)
	for b := range lbOff {
		for mi, mo := range mOff {
			row := out.data[(b*M+mi)*N : (b*M+mi+1)*N]
			for k, lk := range lkOff {
				v := l.data[lbOff[b]+mo+lk]
				if v == 0 {
					continue
				}
				base := rbOff[b] + rkOff[k]
				for n, no := range nOff {
					row[n] += v * r.data[base+no]
				}
			}
		}
	}
}
