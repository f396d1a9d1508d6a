package compact

import (
	"fmt"
	"slices"

	"github.com/prunelab/prunelab/program"
)

// refBatch is the batch size the analysis resolves batch dimensions with: a prime that no layer
// width is likely to share, so reshapes that merge the batch axis group unambiguously.
const refBatch = 7

// ref names one axis of one op's output.
type ref struct{ op, axis int }

// linkKind says how the indices of two axes correspond.
type linkKind int

const (
	// linkEq: index i of a is index i+off of b (the same channel).
	linkEq linkKind = iota
	// linkMerge: axis a is the row-major product of the axes parts (a reshape merging or splitting
	// axes).
	linkMerge
)

type link struct {
	kind  linkKind
	a, b  ref
	off   int
	parts []ref
}

// producer is a seed unit: output channel index of a contraction op by a static (weight) operand.
type producer struct {
	op, axis, index int
	// weight is the op's static operand and weightAxis the axis of it that becomes this output axis.
	weight, weightAxis int
}

// analysis tracks, for every axis index of every op, the channel unit it carries (-1: none), with
// units merged by union-find as the graph couples them.
type analysis struct {
	p         *program.Program
	dims      [][]int
	tags      [][][]int32
	parent    []int32
	producers map[int32]producer // by unit id, for seed units
	frozen    map[int32]string   // unit id → reason (resolved to roots at the end)
	freezeAx  map[ref]string     // axes whose tags are frozen
	links     []link
	dyn       []bool // depends on the input
	static    []bool // depends on variables and constants only
}

func newAnalysis(p *program.Program) (*analysis, error) {
	a := &analysis{p: p, dims: make([][]int, len(p.Ops)), tags: make([][][]int32, len(p.Ops)),
		producers: map[int32]producer{}, frozen: map[int32]string{}, freezeAx: map[ref]string{},
		dyn: make([]bool, len(p.Ops)), static: make([]bool, len(p.Ops))}
	for i, op := range p.Ops {
		a.dims[i] = program.Resolve(op.Dims, refBatch)
		a.tags[i] = make([][]int32, len(op.Dims))
		for ax, d := range a.dims[i] {
			t := make([]int32, d)
			for k := range t {
				t[k] = -1
			}
			a.tags[i][ax] = t
		}
		switch op.Type {
		case program.OpInput:
			a.dyn[i] = true
		case program.OpVariable, "Constant", "Iota":
			a.static[i] = true
		default:
			a.static[i] = true
			for _, in := range op.Inputs {
				a.dyn[i] = a.dyn[i] || a.dyn[in]
				a.static[i] = a.static[i] && a.static[in]
			}
		}
	}
	for i := range p.Ops {
		if err := a.addLinks(i); err != nil {
			return nil, err
		}
	}
	for _, ax := range [2]int{p.Input(), p.Output} {
		for k := range p.Ops[ax].Dims {
			a.freeze(ref{ax, k}, "it is the model's input or output")
		}
	}
	a.propagate()
	return a, nil
}

func (a *analysis) eq(x, y ref, off int) {
	a.links = append(a.links, link{kind: linkEq, a: x, b: y, off: off})
}

func (a *analysis) freeze(r ref, why string) {
	if _, ok := a.freezeAx[r]; !ok {
		a.freezeAx[r] = fmt.Sprintf("%s (op #%d %s, axis %d)", why, r.op, a.p.Ops[r.op].Type, r.axis)
	}
}

func (a *analysis) freezeAll(i int, why string) {
	for k := range a.p.Ops[i].Dims {
		a.freeze(ref{i, k}, why)
	}
	for _, in := range a.p.Ops[i].Inputs {
		for k := range a.p.Ops[in].Dims {
			a.freeze(ref{in, k}, why)
		}
	}
}

// seed gives every index of out axis r a fresh producer unit.
func (a *analysis) seed(r ref, weight, weightAxis int) {
	for k := range a.tags[r.op][r.axis] {
		u := int32(len(a.parent))
		a.parent = append(a.parent, u)
		a.tags[r.op][r.axis][k] = u
		a.producers[u] = producer{op: r.op, axis: r.axis, index: k, weight: weight, weightAxis: weightAxis}
	}
}

// addLinks records how op i's output axes relate to its operands' axes.
func (a *analysis) addLinks(i int) error {
	p := a.p
	op := p.Ops[i]
	out := a.dims[i]
	in := func(k int) []int { return a.dims[op.Inputs[k]] }
	same := func(k int) { // operand k elementwise with the output
		d := in(k)
		if len(d) == 0 {
			if a.dyn[op.Inputs[k]] {
				for ax := range out {
					a.freeze(ref{i, ax}, "a data-dependent scalar multiplies every channel")
				}
			}
			return
		}
		for ax := range out {
			switch {
			case d[ax] == out[ax]:
				a.eq(ref{op.Inputs[k], ax}, ref{i, ax}, 0)
			case a.dyn[op.Inputs[k]]:
				a.freeze(ref{i, ax}, "a data-dependent value is broadcast over the channels")
			}
		}
	}
	switch {
	case op.Type == program.OpInput || op.Type == program.OpVariable || op.Type == "Constant":
		return nil
	case op.Type == "Iota":
		a.freeze(ref{i, op.Axis}, "an iota runs along the axis")
		return nil
	case program.IsUnary(op.Type) || op.Type == "ConvertDType" || program.IsBinary(op.Type) || op.Type == "Where":
		for k := range op.Inputs {
			same(k)
		}
		return nil
	case program.IsReduce(op.Type):
		kept := 0
		for ax := range in(0) {
			if slices.Contains(op.Axes, ax) {
				a.freeze(ref{op.Inputs[0], ax}, "a reduction sums the channels")
				continue
			}
			a.eq(ref{op.Inputs[0], ax}, ref{i, kept}, 0)
			kept++
		}
		return nil
	}
	switch op.Type {
	case "BroadcastInDim":
		d := in(0)
		mapped := map[int]bool{}
		for k, ax := range op.Axes {
			mapped[ax] = true
			if d[k] == out[ax] {
				a.eq(ref{op.Inputs[0], k}, ref{i, ax}, 0)
			} else if a.dyn[op.Inputs[0]] {
				a.freeze(ref{i, ax}, "a data-dependent value is broadcast over the channels")
			}
		}
		for ax := range out {
			if !mapped[ax] && a.dyn[op.Inputs[0]] {
				a.freeze(ref{i, ax}, "a data-dependent value is broadcast over the channels")
			}
		}
	case "Transpose":
		for ax, from := range op.Axes {
			a.eq(ref{op.Inputs[0], from}, ref{i, ax}, 0)
		}
	case "Reverse":
		for ax := range out {
			if slices.Contains(op.Axes, ax) {
				a.freeze(ref{op.Inputs[0], ax}, "the axis is reversed")
				a.freeze(ref{i, ax}, "the axis is reversed")
			} else {
				a.eq(ref{op.Inputs[0], ax}, ref{i, ax}, 0)
			}
		}
	case "Slice":
		d := in(0)
		starts, limits := program.Resolve(op.Starts, refBatch), program.Resolve(op.Limits, refBatch)
		for ax := range out {
			if starts[ax] == 0 && limits[ax] == d[ax] && op.Strides[ax] == 1 {
				a.eq(ref{op.Inputs[0], ax}, ref{i, ax}, 0)
			} else {
				a.freeze(ref{op.Inputs[0], ax}, "a slice takes part of the axis")
				a.freeze(ref{i, ax}, "a slice takes part of the axis")
			}
		}
	case "Concatenate":
		off := 0
		for k, x := range op.Inputs {
			for ax := range out {
				if ax == op.Axis {
					a.eq(ref{x, ax}, ref{i, ax}, off)
				} else {
					a.eq(ref{x, ax}, ref{i, ax}, 0)
				}
			}
			off += in(k)[op.Axis]
		}
	case "Reshape":
		a.reshapeLinks(op.Inputs[0], i)
	case "Dot":
		l, r := in(0), in(1)
		if len(l) != 2 || len(r) != 2 {
			a.freezeAll(i, "a Dot of other than two matrices")
			return nil
		}
		a.eq(ref{op.Inputs[0], 0}, ref{i, 0}, 0)
		a.eq(ref{op.Inputs[0], 1}, ref{op.Inputs[1], 0}, 0)
		a.eq(ref{op.Inputs[1], 1}, ref{i, 1}, 0)
		a.seedContraction(i, []int{1}, []int{1}, nil, []int{0})
	case "DotGeneral":
		l, r := op.Inputs[0], op.Inputs[1]
		for k := range op.Batch[0] {
			a.eq(ref{l, op.Batch[0][k]}, ref{r, op.Batch[1][k]}, 0)
			a.eq(ref{l, op.Batch[0][k]}, ref{i, k}, 0)
		}
		for k := range op.Contracting[0] {
			a.eq(ref{l, op.Contracting[0][k]}, ref{r, op.Contracting[1][k]}, 0)
		}
		ax := len(op.Batch[0])
		var lFree, rFree, lOut, rOut []int
		for k := range a.dims[l] {
			if !slices.Contains(op.Batch[0], k) && !slices.Contains(op.Contracting[0], k) {
				a.eq(ref{l, k}, ref{i, ax}, 0)
				lFree, lOut = append(lFree, k), append(lOut, ax)
				ax++
			}
		}
		for k := range a.dims[r] {
			if !slices.Contains(op.Batch[1], k) && !slices.Contains(op.Contracting[1], k) {
				a.eq(ref{r, k}, ref{i, ax}, 0)
				rFree, rOut = append(rFree, k), append(rOut, ax)
				ax++
			}
		}
		a.seedContraction(i, rOut, rFree, lOut, lFree)
	case "ConvGeneral":
		c := op.Conv
		x, k := op.Inputs[0], op.Inputs[1]
		if depthwise(c, a.dims[x], a.dims[k]) {
			// Each channel convolved alone (MobileNet's depthwise convolutions): the channel passes
			// through, coupling the input channel, the kernel's filter and the output channel.
			a.eq(ref{x, c.InputBatch}, ref{i, c.OutputBatch}, 0)
			a.eq(ref{x, c.InputChannels}, ref{i, c.OutputChannels}, 0)
			a.eq(ref{k, c.KernelOutputChannels}, ref{i, c.OutputChannels}, 0)
			return nil
		}
		if c.ChannelGroupCount != 1 || c.BatchGroupCount != 1 {
			a.freezeAll(i, "a grouped convolution")
			return nil
		}
		a.eq(ref{x, c.InputBatch}, ref{i, c.OutputBatch}, 0)
		a.eq(ref{x, c.InputChannels}, ref{k, c.KernelInputChannels}, 0)
		a.eq(ref{k, c.KernelOutputChannels}, ref{i, c.OutputChannels}, 0)
		if a.static[k] && a.dyn[x] {
			a.seed(ref{i, c.OutputChannels}, k, c.KernelOutputChannels)
		}
	case "ReduceWindow":
		w := op.Window
		for ax := range out {
			plain := w.Dimensions[ax] == 1 && (len(w.Strides) == 0 || w.Strides[ax] == 1) &&
				(len(w.Paddings) == 0 || w.Paddings[ax] == [2]int{}) &&
				(len(w.BaseDilations) == 0 || w.BaseDilations[ax] == 1) &&
				(len(w.WindowDilations) == 0 || w.WindowDilations[ax] == 1)
			if plain {
				a.eq(ref{op.Inputs[0], ax}, ref{i, ax}, 0)
			} else {
				a.freeze(ref{op.Inputs[0], ax}, "a window slides along the axis")
				a.freeze(ref{i, ax}, "a window slides along the axis")
			}
		}
	case "BatchNormForInference":
		for ax := range out {
			a.eq(ref{op.Inputs[0], ax}, ref{i, ax}, 0)
		}
		for k := 1; k < 5; k++ {
			a.eq(ref{op.Inputs[k], 0}, ref{i, op.Axis}, 0)
		}
	default:
		return fmt.Errorf("%w: op #%d %s (near %s): compaction does not know how it relates channels",
			ErrUnsupported, i, op.Type, nearestVariable(p, i))
	}
	return nil
}

// seedContraction seeds producer units on the output axes that come from the free axes of a static
// operand multiplied with a data-dependent one.
func (a *analysis) seedContraction(i int, rOut, rFree, lOut, lFree []int) {
	l, r := a.p.Ops[i].Inputs[0], a.p.Ops[i].Inputs[1]
	switch {
	case a.static[r] && a.dyn[l]:
		for k, ax := range rOut {
			a.seed(ref{i, ax}, r, rFree[k])
		}
	case a.static[l] && a.dyn[r]:
		for k, ax := range lOut {
			a.seed(ref{i, ax}, l, lFree[k])
		}
	}
}

// reshapeLinks relates the axes of a reshape from op x to op i: groups of consecutive axes with
// equal products are the same axis (eq), merged or split (merge), or regrouped (frozen).
// Size-1 axes relate to nothing.
func (a *analysis) reshapeLinks(x, i int) {
	type axis struct{ ax, d int }
	var from, to []axis
	for ax, d := range a.dims[x] {
		if d != 1 {
			from = append(from, axis{ax, d})
		}
	}
	for ax, d := range a.dims[i] {
		if d != 1 {
			to = append(to, axis{ax, d})
		}
	}
	f, t := 0, 0
	for f < len(from) && t < len(to) {
		fs, ts := []axis{from[f]}, []axis{to[t]}
		pf, pt := from[f].d, to[t].d
		f, t = f+1, t+1
		for pf != pt {
			if pf < pt && f < len(from) {
				fs, pf = append(fs, from[f]), pf*from[f].d
				f++
			} else if pt < pf && t < len(to) {
				ts, pt = append(ts, to[t]), pt*to[t].d
				t++
			} else {
				break
			}
		}
		switch {
		case len(fs) == 1 && len(ts) == 1:
			a.eq(ref{x, fs[0].ax}, ref{i, ts[0].ax}, 0)
		case len(ts) == 1:
			parts := make([]ref, len(fs))
			for k, s := range fs {
				parts[k] = ref{x, s.ax}
			}
			a.links = append(a.links, link{kind: linkMerge, a: ref{i, ts[0].ax}, parts: parts})
		case len(fs) == 1:
			parts := make([]ref, len(ts))
			for k, s := range ts {
				parts[k] = ref{i, s.ax}
			}
			a.links = append(a.links, link{kind: linkMerge, a: ref{x, fs[0].ax}, parts: parts})
		default:
			for _, s := range fs {
				a.freeze(ref{x, s.ax}, "a reshape regroups the axis")
			}
			for _, s := range ts {
				a.freeze(ref{i, s.ax}, "a reshape regroups the axis")
			}
		}
	}
}

func (a *analysis) find(u int32) int32 {
	for a.parent[u] != u {
		a.parent[u] = a.parent[a.parent[u]]
		u = a.parent[u]
	}
	return u
}

// unify makes positions x and y carry the same unit; it reports whether anything changed.
func (a *analysis) unify(x, y *int32) bool {
	switch {
	case *x >= 0 && *y >= 0:
		rx, ry := a.find(*x), a.find(*y)
		if rx == ry {
			return false
		}
		if rx < ry {
			a.parent[ry] = rx
		} else {
			a.parent[rx] = ry
		}
		return true
	case *x >= 0:
		*y = *x
		return true
	case *y >= 0:
		*x = *y
		return true
	}
	return false
}

// propagate applies the links until nothing changes.
func (a *analysis) propagate() {
	for changed := true; changed; {
		changed = false
		for _, l := range a.links {
			switch l.kind {
			case linkEq:
				ta, tb := a.tags[l.a.op][l.a.axis], a.tags[l.b.op][l.b.axis]
				for k := range ta {
					if k+l.off < len(tb) && a.unify(&ta[k], &tb[k+l.off]) {
						changed = true
					}
				}
			case linkMerge:
				if a.propagateMerge(l) {
					changed = true
				}
			}
		}
	}
}

// propagateMerge relates a merged axis with its parts: channels flow from the one part that carries
// tags to the merged axis, and back from the merged axis to the one part its tags vary with.
// Anything else (several tagged parts, a pattern no single part explains) freezes the tags.
func (a *analysis) propagateMerge(l link) bool {
	merged := a.tags[l.a.op][l.a.axis]
	n := len(l.parts)
	dims := make([]int, n)
	stride := make([]int, n)
	acc := 1
	for k := n - 1; k >= 0; k-- {
		dims[k] = a.dims[l.parts[k].op][l.parts[k].axis]
		stride[k] = acc
		acc *= dims[k]
	}
	tagged := -1
	for k, r := range l.parts {
		if slices.ContainsFunc(a.tags[r.op][r.axis], func(t int32) bool { return t >= 0 }) {
			if tagged >= 0 {
				a.freezeTags(a.tags[r.op][r.axis], "a reshape merges two channel axes")
				a.freezeTags(a.tags[l.parts[tagged].op][l.parts[tagged].axis], "a reshape merges two channel axes")
				a.freezeTags(merged, "a reshape merges two channel axes")
				return false
			}
			tagged = k
		}
	}
	changed := false
	if tagged < 0 {
		// Backward: find the part the merged tags vary with.
		if !slices.ContainsFunc(merged, func(t int32) bool { return t >= 0 }) {
			return false
		}
		for k := n - 1; k >= 0; k-- {
			vals := make([]int32, dims[k])
			for j := range vals {
				vals[j] = -2
			}
			ok := true
			for o, t := range merged {
				if t >= 0 {
					t = a.find(t)
				}
				j := (o / stride[k]) % dims[k]
				if vals[j] == -2 {
					vals[j] = t
				} else if vals[j] != t {
					ok = false
					break
				}
			}
			if ok {
				part := a.tags[l.parts[k].op][l.parts[k].axis]
				for j, t := range vals {
					if t >= 0 && a.unify(&part[j], &vals[j]) {
						changed = true
					}
				}
				return changed
			}
		}
		// No single part explains them: a channel axis split into groups, such as attention's
		// [width] → [heads, head features]. The channels of each group of the outermost part (a
		// head's features) go together, as one channel carried by that part; the inner parts
		// carry none. Only an axis that is channels throughout is split so.
		if slices.ContainsFunc(merged, func(t int32) bool { return t < 0 }) {
			a.freezeTags(merged, "a reshape splits a channel axis")
			return false
		}
		outer := slices.IndexFunc(dims, func(d int) bool { return d > 1 })
		part := a.tags[l.parts[outer].op][l.parts[outer].axis]
		for o := range merged {
			if a.unify(&part[(o/stride[outer])%dims[outer]], &merged[o]) {
				changed = true
			}
		}
		return changed
	}
	part := a.tags[l.parts[tagged].op][l.parts[tagged].axis]
	for o := range merged {
		if a.unify(&part[(o/stride[tagged])%dims[tagged]], &merged[o]) {
			changed = true
		}
	}
	return changed
}

func (a *analysis) freezeTags(tags []int32, why string) {
	for _, t := range tags {
		if t >= 0 {
			if _, ok := a.frozen[t]; !ok {
				a.frozen[t] = why
			}
		}
	}
}

// frozenRoots resolves the freeze marks to unit roots, with one reason each.
func (a *analysis) frozenRoots() map[int32]string {
	out := map[int32]string{}
	mark := func(u int32, why string) {
		r := a.find(u)
		if _, ok := out[r]; !ok {
			out[r] = why
		}
	}
	for u, why := range a.frozen {
		mark(u, why)
	}
	for r, why := range a.freezeAx {
		for _, t := range a.tags[r.op][r.axis] {
			if t >= 0 {
				mark(t, why)
			}
		}
	}
	return out
}

// nearestVariable names the variable closest upstream of op i, for error messages.
func nearestVariable(p *program.Program, i int) string {
	seen := map[int]bool{i: true}
	queue := []int{i}
	for len(queue) > 0 {
		j := queue[0]
		queue = queue[1:]
		if p.Ops[j].Type == program.OpVariable {
			return p.Ops[j].Var
		}
		for _, k := range p.Ops[j].Inputs {
			if !seen[k] {
				seen[k] = true
				queue = append(queue, k)
			}
		}
	}
	return "the input"
}

// depthwise reports whether a convolution with input dims x and kernel dims k convolves each
// channel alone into one output channel: as many groups as input channels, one input channel per
// group, one output channel per group.
func depthwise(c *program.ConvAttrs, x, k []int) bool {
	if c == nil || c.ChannelGroupCount <= 1 || c.BatchGroupCount > 1 {
		return false
	}
	in := x[c.InputChannels]
	return in == c.ChannelGroupCount && k[c.KernelInputChannels] == 1 && k[c.KernelOutputChannels] == in
}
