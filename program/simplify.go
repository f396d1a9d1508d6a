package program

import (
	"slices"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
)

// Simplify returns a program for inference that computes what p computes (up to float rounding)
// with fewer passes over input-dependent tensors, by the rewrites an inference compiler makes:
//
//   - a scale after a convolution or a matrix product goes into its weights (batch norm's factor:
//     conv(x, W)·f = conv(x, W·f) for f per output channel);
//   - a scale distributes over a constant addition before it ((y + c)·f = y·f + c·f, for a
//     compensation term or bias added between a convolution and its batch norm);
//   - constant additions in a row merge ((y + c1) + c2 = y + (c1 + c2));
//   - a single constant value broadcast to a tensor for an elementwise op (ReLU's zeros) is given to
//     the op as it is, to broadcast without materializing copies;
//   - a dense layer's constant weights [k, n] are stored transposed, [n, k], for a DotGeneral that
//     contracts the last axis of both operands (SimpleGo's layout, which it would otherwise make
//     at every call).
//
// "Constant" means computed from variables and constants alone; the new constant ops are left for
// [Fold] to compute once. p is not changed. Each rewrite applies only where the intermediate result
// has no other use, float32 only.
func Simplify(p *Program) *Program {
	consumers := make([]int, len(p.Ops))
	for _, op := range p.Ops {
		for _, in := range op.Inputs {
			consumers[in]++
		}
	}
	s := &simplifier{out: &Program{Version: p.Version, Variables: slices.Clone(p.Variables)}}
	idx := make([]int, len(p.Ops))
	for i, op := range p.Ops {
		op = op.clone()
		for k, in := range op.Inputs {
			op.Inputs[k] = idx[in]
		}
		idx[i] = s.emit(op, consumers[i])
	}
	s.out.Output = idx[p.Output]
	return channelsLastConvs(transposeDotWeights(s.out.Prune()))
}

// channelsLastConvs rewrites each channels-first 2-D convolution of an input-dependent tensor by a
// constant kernel (NCHW input, [out, in, kh, kw] kernel: ONNX's and PyTorch's layout) as the
// channels-last one between two transposes, with the kernel transposed to [kh, kw, in, out] (a
// constant, for Fold to compute once). GoMLX v0.26.0's pure-Go backend computes channels-first
// convolutions with a naive single-threaded loop, and internal/gomlxfix's fast kernel covers
// channels-last ones only; the transposes cost one pass over the activations each. Grouped and
// dilated convolutions are left as they are.
func channelsLastConvs(p *Program) *Program {
	constant := constantOps(p)
	out := &Program{Version: p.Version, Variables: p.Variables}
	idx := make([]int, len(p.Ops))
	add := func(op Op) int {
		out.Ops = append(out.Ops, op)
		return len(out.Ops) - 1
	}
	for i, op := range p.Ops {
		op = op.clone()
		for k, in := range op.Inputs {
			op.Inputs[k] = idx[in]
		}
		c := op.Conv
		if op.Type == "ConvGeneral" && op.DType == dtypes.Float32 && !constant[i] && constant[p.Ops[i].Inputs[1]] &&
			channelsFirst2D(c) {
			x, w := p.Ops[p.Ops[i].Inputs[0]], p.Ops[p.Ops[i].Inputs[1]]
			perm := func(d []Dim, axes ...int) []Dim {
				r := make([]Dim, len(axes))
				for k, a := range axes {
					r[k] = d[a]
				}
				return r
			}
			xt := add(Op{Type: "Transpose", Inputs: []int{op.Inputs[0]}, DType: x.DType, Dims: perm(x.Dims, 0, 2, 3, 1),
				Axes: []int{0, 2, 3, 1}})
			wt := add(Op{Type: "Transpose", Inputs: []int{op.Inputs[1]}, DType: w.DType, Dims: perm(w.Dims, 2, 3, 1, 0),
				Axes: []int{2, 3, 1, 0}})
			last := *c
			last.InputBatch, last.InputChannels, last.InputSpatial = 0, 3, []int{1, 2}
			last.KernelSpatial, last.KernelInputChannels, last.KernelOutputChannels = []int{0, 1}, 2, 3
			last.OutputBatch, last.OutputChannels, last.OutputSpatial = 0, 3, []int{1, 2}
			conv := add(Op{Type: "ConvGeneral", Inputs: []int{xt, wt}, DType: op.DType, Dims: perm(op.Dims, 0, 2, 3, 1),
				Conv: &last})
			op = Op{Type: "Transpose", Inputs: []int{conv}, DType: op.DType, Dims: slices.Clone(op.Dims),
				Axes: []int{0, 3, 1, 2}}
		}
		idx[i] = add(op)
	}
	out.Output = idx[p.Output]
	return out
}

// channelsFirst2D reports whether c is an NCHW × [out, in, kh, kw] → NCHW convolution without
// dilations or groups.
func channelsFirst2D(c *ConvAttrs) bool {
	ones := func(v []int) bool {
		for _, x := range v {
			if x != 1 {
				return false
			}
		}
		return true
	}
	return c != nil && c.InputBatch == 0 && c.InputChannels == 1 && slices.Equal(c.InputSpatial, []int{2, 3}) &&
		c.KernelOutputChannels == 0 && c.KernelInputChannels == 1 && slices.Equal(c.KernelSpatial, []int{2, 3}) &&
		c.OutputBatch == 0 && c.OutputChannels == 1 && slices.Equal(c.OutputSpatial, []int{2, 3}) &&
		ones(c.InputDilations) && ones(c.KernelDilations) && c.ChannelGroupCount <= 1 && c.BatchGroupCount <= 1
}

// transposeDotWeights rewrites x·W with a constant W [k, n] and x [batch, k] as a DotGeneral with W
// transposed to [n, k] (a constant, for Fold to compute once): the contracting axis last in both
// operands is the layout SimpleGo multiplies in, which it would otherwise make by transposing W at
// every call (as much work as the product itself at batch 1).
func transposeDotWeights(p *Program) *Program {
	constant := constantOps(p)
	out := &Program{Version: p.Version, Variables: p.Variables}
	idx := make([]int, len(p.Ops))
	for i, op := range p.Ops {
		op = op.clone()
		for k, in := range op.Inputs {
			op.Inputs[k] = idx[in]
		}
		if op.Type == "Dot" && op.DType == dtypes.Float32 && !constant[i] {
			x, w := p.Ops[p.Ops[i].Inputs[0]], p.Ops[p.Ops[i].Inputs[1]]
			if constant[p.Ops[i].Inputs[1]] && len(w.Dims) == 2 && len(x.Dims) == 2 {
				out.Ops = append(out.Ops, Op{Type: "Transpose", Inputs: []int{op.Inputs[1]}, DType: w.DType,
					Dims: []Dim{w.Dims[1], w.Dims[0]}, Axes: []int{1, 0}})
				op = Op{Type: "DotGeneral", Inputs: []int{op.Inputs[0], len(out.Ops) - 1}, DType: op.DType,
					Dims: slices.Clone(op.Dims), Contracting: [2][]int{{1}, {1}}}
			}
		}
		idx[i] = len(out.Ops)
		out.Ops = append(out.Ops, op)
	}
	out.Output = idx[p.Output]
	return out
}

// simplifier writes the simplified program op by op.
type simplifier struct {
	out      *Program
	constant []bool // per op of out: computed from variables and constants alone
	users    []int  // per op of out: how many ops of the final program read it (for ops of p, their consumers there)
}

// add appends op to the output, read by users ops, and returns its index.
func (s *simplifier) add(op Op, users int) int {
	s.out.Ops = append(s.out.Ops, op)
	s.constant = append(s.constant, isConstant(op, s.constant))
	s.users = append(s.users, users)
	return len(s.out.Ops) - 1
}

// emit appends op (its inputs already indices of the output), rewritten where a rule applies.
func (s *simplifier) emit(op Op, users int) int {
	if op.DType != dtypes.Float32 || len(op.Inputs) != 2 || !elementwise[op.Type] {
		return s.add(op, users)
	}
	for k, in := range op.Inputs {
		// A single value broadcast to the other operand's shape (ReLU's zeros): the operation
		// broadcasts it itself, without a tensor of copies.
		if b := s.out.Ops[in]; b.Type == "BroadcastInDim" && s.out.Ops[b.Inputs[0]].Type == "Constant" &&
			len(s.out.Ops[b.Inputs[0]].Value) == 1 && len(b.Dims) == len(op.Dims) {
			ones := make([]Dim, len(op.Dims))
			for a := range ones {
				ones[a] = 1
			}
			src := s.out.Ops[b.Inputs[0]]
			op.Inputs[k] = s.add(Op{Type: "Constant", DType: src.DType, Dims: ones, Value: slices.Clone(src.Value)}, 1)
		}
	}
	if op.Type != "Mul" && op.Type != "Add" {
		return s.add(op, users)
	}
	a, c := op.Inputs[0], op.Inputs[1]
	if s.constant[a] {
		a, c = c, a
	}
	if s.constant[a] || !s.constant[c] || !slices.Equal(s.out.Ops[a].Dims, op.Dims) || s.users[a] != 1 {
		return s.add(op, users)
	}
	inner := s.out.Ops[a]
	switch {
	case op.Type == "Add" && inner.Type == "Add":
		// (y + c1) + c2 = y + (c1 + c2)
		if y, c1, ok := s.splitConstant(inner); ok {
			if dims, ok := broadcastDims(s.out.Ops[c1].Dims, s.out.Ops[c].Dims); ok && fitsIn(dims, op.Dims) {
				sum := s.add(Op{Type: "Add", Inputs: []int{c1, c}, DType: op.DType, Dims: dims}, 1)
				return s.emit(Op{Type: "Add", Inputs: []int{y, sum}, DType: op.DType, Dims: slices.Clone(op.Dims)}, users)
			}
		}
	case op.Type == "Mul" && inner.Type == "Add":
		// (y + c1)·f = y·f + c1·f
		if y, c1, ok := s.splitConstant(inner); ok {
			if dims, ok := broadcastDims(s.out.Ops[c1].Dims, s.out.Ops[c].Dims); ok && fitsIn(dims, op.Dims) {
				scaled := s.emit(Op{Type: "Mul", Inputs: []int{y, c}, DType: op.DType, Dims: slices.Clone(op.Dims)}, 1)
				offset := s.add(Op{Type: "Mul", Inputs: []int{c1, c}, DType: op.DType, Dims: dims}, 1)
				return s.emit(Op{Type: "Add", Inputs: []int{scaled, offset}, DType: op.DType, Dims: slices.Clone(op.Dims)}, users)
			}
		}
	case op.Type == "Mul" && inner.Type == "ConvGeneral":
		// conv(x, W)·f = conv(x, W·f), f per output channel
		conv := inner.Conv
		w := inner.Inputs[1]
		f := s.out.Ops[c].Dims
		if s.constant[w] && conv != nil && conv.ChannelGroupCount <= 1 && conv.BatchGroupCount <= 1 && onlyAxis(f, conv.OutputChannels) {
			kernel := s.out.Ops[w]
			kdims := make([]int, len(kernel.Dims))
			for k := range kdims {
				kdims[k] = 1
			}
			kdims[conv.KernelOutputChannels] = f[conv.OutputChannels]
			if kernel.Dims[conv.KernelOutputChannels] == f[conv.OutputChannels] {
				fk := s.add(Op{Type: "Reshape", Inputs: []int{c}, DType: op.DType, Dims: kdims}, 1)
				scaled := s.add(Op{Type: "Mul", Inputs: []int{w, fk}, DType: op.DType, Dims: slices.Clone(kernel.Dims)}, 1)
				inner = inner.clone()
				inner.Inputs[1] = scaled
				return s.add(inner, users)
			}
		}
	case op.Type == "Mul" && inner.Type == "Dot":
		// x·W·f = x·(W·f), W [k, n], f [1, n]
		w := inner.Inputs[1]
		f := s.out.Ops[c].Dims
		kernel := s.out.Ops[w]
		if s.constant[w] && len(kernel.Dims) == 2 && len(op.Dims) == 2 && onlyAxis(f, 1) && f[1] == kernel.Dims[1] {
			scaled := s.add(Op{Type: "Mul", Inputs: []int{w, c}, DType: op.DType, Dims: slices.Clone(kernel.Dims)}, 1)
			inner = inner.clone()
			inner.Inputs[1] = scaled
			return s.add(inner, users)
		}
	}
	return s.add(op, users)
}

// splitConstant returns the input-dependent and the constant operand of a binary op, if it has one
// of each, the input-dependent one with the op's dims.
func (s *simplifier) splitConstant(op Op) (y, c int, ok bool) {
	y, c = op.Inputs[0], op.Inputs[1]
	if s.constant[y] {
		y, c = c, y
	}
	return y, c, !s.constant[y] && s.constant[c] && slices.Equal(s.out.Ops[y].Dims, op.Dims)
}

// elementwise are the binary ops whose operands broadcast along axes of dimension 1.
var elementwise = map[string]bool{"Add": true, "Sub": true, "Mul": true, "Div": true, "Max": true, "Min": true}

// broadcastDims returns the dims of a binary op of operands with dims a and b (same rank, each axis
// equal or 1 on one side).
func broadcastDims(a, b []Dim) ([]Dim, bool) {
	if len(a) != len(b) {
		return nil, false
	}
	out := make([]Dim, len(a))
	for k := range a {
		switch {
		case a[k] == b[k] || b[k] == 1:
			out[k] = a[k]
		case a[k] == 1:
			out[k] = b[k]
		default:
			return nil, false
		}
	}
	return out, true
}

// fitsIn reports whether a constant of dims c broadcasts to dims (each axis 1 or equal).
func fitsIn(c, dims []Dim) bool {
	if len(c) != len(dims) {
		return false
	}
	for k := range c {
		if c[k] != 1 && c[k] != dims[k] {
			return false
		}
	}
	return true
}

// onlyAxis reports whether dims are 1 on every axis but axis.
func onlyAxis(dims []Dim, axis int) bool {
	if axis < 0 || axis >= len(dims) {
		return false
	}
	for k, d := range dims {
		if k != axis && d != 1 {
			return false
		}
	}
	return true
}
