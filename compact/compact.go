package compact

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/prunelab/prunelab/program"
)

// Sentinel errors, wrapped with the layer or op at fault.
var (
	// ErrUnsupported: the program holds an operation compaction does not know how channels flow
	// through.
	ErrUnsupported = errors.New("compact: unsupported operation")
	// ErrEmptyLayer: the pruned units include every unit of a layer, which cannot be removed.
	ErrEmptyLayer = errors.New("compact: pruning removes every unit of a layer")
	// ErrMismatch: the compacted model's outputs differ from the original's beyond the tolerance
	// (a bug, reported rather than returned as a wrong model).
	ErrMismatch = errors.New("compact: compacted model differs from the original")
)

// CompensationScope holds the constants compaction adds for removed units whose output was a
// non-zero constant (a pruned neuron's ReLU(bias), a pruned filter's batch-norm offset): variable
// "<CompensationScope>/op<N>" is added to the output of op N of the original program.
const CompensationScope = "/compact/compensation"

// Options configure [Compact]. The zero value verifies the result with tolerance 1e-4.
type Options struct {
	// Tolerance is the largest allowed |compacted − original| on a random batch, relative to
	// 1 + max|original| (default 1e-4).
	Tolerance float64
	// SkipVerify skips running both models to compare them.
	SkipVerify bool
	// Seed drives the random verification batch.
	Seed uint64
}

// LayerChange is how compaction changed one variable.
type LayerChange struct {
	Var    string `json:"var"`
	Before []int  `json:"before"`
	After  []int  `json:"after"`
}

// Report summarizes a compaction.
type Report struct {
	// Channels counts coupled channels (groups of unit indices that must be removed together):
	// all of them, the removed ones, and those that cannot be removed whatever the masks.
	Channels        int `json:"channels"`
	RemovedChannels int `json:"removed_channels"`
	FrozenChannels  int `json:"frozen_channels"`
	// FrozenReasons counts frozen channels by reason.
	FrozenReasons map[string]int `json:"frozen_reasons,omitempty"`
	Layers        []LayerChange  `json:"layers"`
	ParamsBefore  int            `json:"params_before"`
	ParamsAfter   int            `json:"params_after"`
	// MACs per example of the matrix multiplications and convolutions, before and after, and
	// their ratio (the theoretical speedup).
	MACsBefore int64   `json:"macs_before"`
	MACsAfter  int64   `json:"macs_after"`
	Speedup    float64 `json:"theoretical_speedup"`
	// Compensations lists the variables added for removed units with constant non-zero outputs.
	Compensations []string `json:"compensations,omitempty"`
	// MaxDiff is the largest |compacted − original| output difference on the verification batch.
	MaxDiff float64 `json:"max_diff"`
}

// Result is a compacted model: a smaller program, its variable values and a report.
type Result struct {
	Program *program.Program
	Values  map[string][]float32
	Report  *Report
}

// Compact removes from the model (p with variable values, float32 by path) every channel whose
// producing weights are all zero, together with everything coupled to it, and returns a smaller
// program computing the same function. Units are "pruned" exactly when their weights are zero, so
// pass the values of a masked model (pruning zeroes masked weights).
//
// Channels are found from the program (see the package documentation). A removed unit's output is
// then a constant (0, or e.g. ReLU(bias)); its contribution to each consumer is computed once and
// added back as a constant (a compensation variable) when it is not zero, so the compacted model
// matches the masked one exactly, up to float rounding. The result is verified on a random batch
// unless opts.SkipVerify.
func Compact(backend backends.Backend, p *program.Program, values map[string][]float32, opts Options) (*Result, error) {
	if opts.Tolerance == 0 {
		opts.Tolerance = 1e-4
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	a, err := newAnalysis(p)
	if err != nil {
		return nil, err
	}
	frozen := a.frozenRoots()

	// Values of the nodes needed: weights of producers and operands of contractions, at batch 1.
	contractions := map[int]bool{}
	var which []int
	need := map[int]bool{}
	for _, pr := range a.producers {
		need[pr.weight] = true
	}
	for i, op := range p.Ops {
		if op.Type == "Dot" || op.Type == "DotGeneral" || op.Type == "ConvGeneral" {
			contractions[i] = true
			need[op.Inputs[0]], need[op.Inputs[1]] = true, true
		}
	}
	for i := range need {
		which = append(which, i)
	}
	sort.Ints(which)
	nodeValues, err := evalNodes(backend, p, values, which)
	if err != nil {
		return nil, err
	}

	// Which units are dead (zero weights), and which channels (roots) are removable.
	deadCache := map[[2]int][]bool{}
	isDead := func(pr producer) bool {
		key := [2]int{pr.weight, pr.weightAxis}
		dead, ok := deadCache[key]
		if !ok {
			dims := program.Resolve(p.Ops[pr.weight].Dims, 1)
			dead = zeroSlices(nodeValues[pr.weight], dims, pr.weightAxis)
			deadCache[key] = dead
		}
		return dead[pr.index]
	}
	type rootInfo struct{ producers, dead int }
	roots := map[int32]*rootInfo{}
	for u, pr := range a.producers {
		r := a.find(u)
		ri := roots[r]
		if ri == nil {
			ri = &rootInfo{}
			roots[r] = ri
		}
		ri.producers++
		if isDead(pr) {
			ri.dead++
		}
	}
	rep := &Report{Channels: len(roots), FrozenReasons: map[string]int{}}
	removable := map[int32]bool{}
	for r, ri := range roots {
		if why, ok := frozen[r]; ok {
			rep.FrozenChannels++
			rep.FrozenReasons[why]++
			continue
		}
		if ri.dead == ri.producers {
			removable[r] = true
			rep.RemovedChannels++
		}
	}
	kept := make([][][]bool, len(p.Ops))
	for i := range p.Ops {
		kept[i] = make([][]bool, len(p.Ops[i].Dims))
		for ax, tags := range a.tags[i] {
			if p.Ops[i].Dims[ax] < 0 {
				continue // batch axes carry no channels
			}
			k := make([]bool, len(tags))
			for j, t := range tags {
				k[j] = t < 0 || !removable[a.find(t)]
			}
			kept[i][ax] = k
		}
	}
	for i, op := range p.Ops {
		if op.Type != program.OpVariable {
			continue
		}
		for ax, k := range kept[i] {
			if len(k) > 0 && !slices.Contains(k, true) {
				return nil, fmt.Errorf("%w: %s would lose all %d entries of axis %d; keep at least one unit per layer",
					ErrEmptyLayer, op.Var, len(k), ax)
			}
		}
	}

	// Compensations: contributions of removed inputs to contractions.
	comps := map[int]*compTerm{}
	for i := range contractions {
		c, dims, err := compensation(backend, p, i, kept, nodeValues)
		if err != nil {
			return nil, err
		}
		if c != nil {
			comps[i] = newCompTerm(c, dims)
		}
	}

	np, nvalues, err := rebuild(p, values, kept, comps)
	if err != nil {
		return nil, err
	}
	for _, v := range np.Variables {
		if len(v.Path) > len(CompensationScope) && v.Path[:len(CompensationScope)] == CompensationScope {
			rep.Compensations = append(rep.Compensations, v.Path)
		}
	}
	for _, v := range p.Variables {
		after := np.Variable(v.Path)
		if after != nil && !slices.Equal(after.Dims, v.Dims) {
			rep.Layers = append(rep.Layers, LayerChange{Var: v.Path, Before: slices.Clone(v.Dims), After: slices.Clone(after.Dims)})
		}
	}
	rep.ParamsBefore, rep.ParamsAfter = p.NumParams(), np.NumParams()
	rep.MACsBefore, rep.MACsAfter = MACs(p), MACs(np)
	if rep.MACsAfter > 0 {
		rep.Speedup = float64(rep.MACsBefore) / float64(rep.MACsAfter)
	}
	if len(rep.FrozenReasons) == 0 {
		rep.FrozenReasons = nil
	}
	res := &Result{Program: np, Values: nvalues, Report: rep}
	if !opts.SkipVerify {
		diff, scale, err := Compare(backend, p, values, np, nvalues, 2, opts.Seed)
		if err != nil {
			return nil, err
		}
		rep.MaxDiff = diff
		if diff > opts.Tolerance*(1+scale) {
			return nil, fmt.Errorf("%w: max |difference| %g on outputs of magnitude up to %g", ErrMismatch, diff, scale)
		}
	}
	return res, nil
}

// evalNodes returns the values of the given ops for one all-zero input (program.EvalNodes).
func evalNodes(backend backends.Backend, p *program.Program, values map[string][]float32, which []int) (map[int][]float32, error) {
	out := map[int][]float32{}
	if len(which) == 0 {
		return out, nil
	}
	res, err := program.EvalNodes(backend, p, values, which)
	if err != nil {
		return nil, fmt.Errorf("compact: evaluating the model: %w", err)
	}
	for k, i := range which {
		v, err := floats(res[k])
		res[k].FinalizeAll()
		if err != nil {
			return nil, fmt.Errorf("compact: op #%d: %w", i, err)
		}
		out[i] = v
	}
	return out, nil
}

// floats converts a tensor to []float32 (booleans and integers too).
func floats(t *tensors.Tensor) ([]float32, error) {
	var out []float32
	err := t.ConstFlatData(func(flat any) {
		switch f := flat.(type) {
		case []float32:
			out = slices.Clone(f)
		case []float64:
			out = make([]float32, len(f))
			for i, v := range f {
				out[i] = float32(v)
			}
		case []int32:
			out = make([]float32, len(f))
			for i, v := range f {
				out[i] = float32(v)
			}
		case []bool:
			out = make([]float32, len(f))
			for i, v := range f {
				if v {
					out[i] = 1
				}
			}
		}
	})
	if err == nil && out == nil {
		err = fmt.Errorf("dtype %s not supported", t.DType())
	}
	return out, err
}

// zeroSlices reports, for each index of axis, whether the slice of data (row-major, dims) at that
// index is all zero.
func zeroSlices(data []float32, dims []int, axis int) []bool {
	inner := 1
	for _, d := range dims[axis+1:] {
		inner *= d
	}
	n := dims[axis]
	zero := make([]bool, n)
	for j := range zero {
		zero[j] = true
	}
	for i, v := range data {
		if v != 0 {
			zero[(i/inner)%n] = false
		}
	}
	return zero
}

// sliceKept keeps, along every axis with a keep mask, the indices marked true.
func sliceKept(data []float32, dims []int, keep [][]bool) ([]float32, []int) {
	newDims := slices.Clone(dims)
	for ax, k := range keep {
		if k != nil {
			newDims[ax] = 0
			for _, b := range k {
				if b {
					newDims[ax]++
				}
			}
		}
	}
	out := make([]float32, 0, elements(newDims))
	idx := make([]int, len(dims))
	for _, v := range data {
		ok := true
		for ax, k := range keep {
			if k != nil && !k[idx[ax]] {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, v)
		}
		for ax := len(dims) - 1; ax >= 0; ax-- {
			idx[ax]++
			if idx[ax] < dims[ax] {
				break
			}
			idx[ax] = 0
		}
	}
	return out, newDims
}

func elements(dims []int) int {
	n := 1
	for _, d := range dims {
		n *= d
	}
	return n
}

// contractingAxes returns the contracted axes of each operand of a contraction op.
func contractingAxes(op *program.Op) (lhs, rhs []int) {
	switch op.Type {
	case "Dot":
		return []int{1}, []int{0}
	case "DotGeneral":
		return op.Contracting[0], op.Contracting[1]
	default: // ConvGeneral
		return []int{op.Conv.InputChannels}, []int{op.Conv.KernelInputChannels}
	}
}

// compensation computes the contribution of the removed inputs of contraction op i (constants) to
// its kept outputs, at batch 1 with constant axes collapsed; nil when there is none or it is zero.
func compensation(backend backends.Backend, p *program.Program, i int, kept [][][]bool,
	nodeValues map[int][]float32) ([]float32, []int, error) {
	op := &p.Ops[i]
	l, r := op.Inputs[0], op.Inputs[1]
	lAxes, _ := contractingAxes(op)
	lDims := program.Resolve(p.Ops[l].Dims, 1)
	removed := false
	for _, ax := range lAxes {
		if k := kept[l][ax]; k != nil && slices.Contains(k, false) {
			removed = true
		}
	}
	if !removed {
		return nil, nil, nil
	}
	// The left operand restricted to removed entries (an entry is removed when any of its
	// contracting indices is).
	rem := slices.Clone(nodeValues[l])
	st := strides(lDims)
	for e := range rem {
		drop := true
		for _, ax := range lAxes {
			if k := kept[l][ax]; k != nil && !k[(e/st[ax])%lDims[ax]] {
				drop = false
			}
		}
		if drop {
			rem[e] = 0
		}
	}
	if !slices.ContainsFunc(rem, func(v float32) bool { return v != 0 }) {
		return nil, nil, nil
	}
	lt := tensors.FromFlatDataAndDimensions(rem, lDims...)
	rt := tensors.FromFlatDataAndDimensions(slices.Clone(nodeValues[r]), program.Resolve(p.Ops[r].Dims, 1)...)
	if p.Ops[l].DType != dtypes.Float32 || p.Ops[r].DType != dtypes.Float32 {
		return nil, nil, fmt.Errorf("%w: op #%d: compensation for %s operands", ErrUnsupported, i, p.Ops[l].DType)
	}
	ct, err := program.EvalOp(backend, op, 1, lt, rt)
	if err != nil {
		return nil, nil, fmt.Errorf("compact: compensation of op #%d: %w", i, err)
	}
	c, err := floats(ct)
	if err != nil {
		return nil, nil, err
	}
	dims := program.Resolve(op.Dims, 1)
	c, dims = sliceKept(c, dims, kept[i])
	if !slices.ContainsFunc(c, func(v float32) bool { return v != 0 }) {
		return nil, nil, nil
	}
	for _, d := range op.Dims {
		if d < -1 {
			return nil, nil, fmt.Errorf("%w: op #%d: a compensation along an axis of %d×batch", ErrUnsupported, i, -d)
		}
	}
	return c, dims, nil
}

// compTerm is a compensation constant stored compactly: along each axis, consecutive equal slices
// are stored once (a constant axis becomes size 1, broadcast when added; a convolution's border
// pattern keeps one slice per run, expanded by slices, broadcasts and a concatenation).
type compTerm struct {
	data []float32
	dims []int         // stored dims
	runs map[int][]int // axis → run lengths, for axes with several runs
}

func newCompTerm(c []float32, dims []int) *compTerm {
	t := &compTerm{data: c, dims: dims, runs: map[int][]int{}}
	for ax := range t.dims {
		if t.dims[ax] <= 1 {
			continue
		}
		st := strides(t.dims)
		var lens []int
		keep := make([]bool, t.dims[ax])
		start := 0 // of the current run
		for j := range t.dims[ax] {
			if j > 0 && sliceEqual(t.data, t.dims, st, ax, start, j) {
				lens[len(lens)-1]++
				continue
			}
			lens = append(lens, 1)
			keep[j], start = true, j
		}
		if len(lens) == t.dims[ax] {
			continue
		}
		k := make([][]bool, len(t.dims))
		k[ax] = keep
		t.data, t.dims = sliceKept(t.data, t.dims, k)
		if len(lens) > 1 {
			t.runs[ax] = lens
		}
	}
	return t
}

// sliceEqual reports whether the slices at indices i and j of axis ax are equal up to float32
// rounding (a relative 1e-6): a constant computed at every position, such as a removed attention
// head's output (its v bias, whatever the attention weights), differs between positions only by
// the rounding of the sums that produced it, and is stored once.
func sliceEqual(data []float32, dims, st []int, ax, i, j int) bool {
	for e, v := range data {
		if (e/st[ax])%dims[ax] == i {
			w := data[e+(j-i)*st[ax]]
			if math.Abs(float64(v-w)) > 1e-6*(1+math.Max(math.Abs(float64(v)), math.Abs(float64(w)))) {
				return false
			}
		}
	}
	return true
}

// emit appends the ops that read the term (variable path) and expand its runs; it returns the index
// of the last op.
func (t *compTerm) emit(np *program.Program, path string) int {
	np.Variables = append(np.Variables, program.Variable{Path: path, DType: dtypes.Float32, Dims: slices.Clone(t.dims)})
	np.Ops = append(np.Ops, program.Op{Type: program.OpVariable, Var: path, DType: dtypes.Float32, Dims: slices.Clone(t.dims)})
	cur, dims := len(np.Ops)-1, slices.Clone(t.dims)
	axes := make([]int, 0, len(t.runs))
	for ax := range t.runs {
		axes = append(axes, ax)
	}
	sort.Ints(axes)
	all := make([]int, len(dims))
	for k := range all {
		all[k] = k
	}
	for _, ax := range axes {
		var parts []int
		total := 0
		for r, n := range t.runs[ax] {
			sd := slices.Clone(dims)
			sd[ax] = 1
			starts, limits, steps := make([]int, len(dims)), slices.Clone(dims), make([]int, len(dims))
			for k := range steps {
				steps[k] = 1
			}
			starts[ax], limits[ax] = r, r+1
			np.Ops = append(np.Ops, program.Op{Type: "Slice", Inputs: []int{cur}, DType: dtypes.Float32, Dims: sd,
				Starts: starts, Limits: limits, Strides: steps})
			if n > 1 {
				bd := slices.Clone(sd)
				bd[ax] = n
				np.Ops = append(np.Ops, program.Op{Type: "BroadcastInDim", Inputs: []int{len(np.Ops) - 1},
					DType: dtypes.Float32, Dims: bd, Axes: slices.Clone(all)})
			}
			parts = append(parts, len(np.Ops)-1)
			total += n
		}
		dims[ax] = total
		np.Ops = append(np.Ops, program.Op{Type: "Concatenate", Inputs: parts, DType: dtypes.Float32, Dims: slices.Clone(dims),
			Axis: ax})
		cur = len(np.Ops) - 1
	}
	return cur
}

func strides(dims []int) []int {
	s := make([]int, len(dims))
	acc := 1
	for i := len(dims) - 1; i >= 0; i-- {
		s[i] = acc
		acc *= dims[i]
	}
	return s
}

// rebuild writes the smaller program: every op with its kept indices, the variables sliced, and
// compensation constants added after the contractions that have them.
func rebuild(p *program.Program, values map[string][]float32, kept [][][]bool, comps map[int]*compTerm) (
	*program.Program, map[string][]float32, error) {
	np := &program.Program{Version: program.Version}
	nvalues := map[string][]float32{}
	newIdx := make([]int, len(p.Ops))
	count := func(k []bool, d int) int {
		if k == nil {
			return d
		}
		n := 0
		for _, b := range k {
			if b {
				n++
			}
		}
		return n
	}
	for i, op := range p.Ops {
		op2 := op.Clone()
		for ax, d := range op.Dims {
			if d >= 0 {
				op2.Dims[ax] = count(kept[i][ax], d)
			}
		}
		op2.Inputs = op2.Inputs[:0]
		for _, in := range op.Inputs {
			if op.Type == "Concatenate" && elements(program.Resolve(np.Ops[newIdx[in]].Dims, 1)) == 0 {
				continue // a segment that lost all its channels
			}
			op2.Inputs = append(op2.Inputs, newIdx[in])
		}
		if op.Type == "ConvGeneral" && op.Conv.ChannelGroupCount > 1 {
			// A depthwise convolution (the only grouped one compaction changes): one group per
			// remaining channel.
			op2.Conv.ChannelGroupCount = op2.Dims[op.Conv.OutputChannels]
		}
		switch op.Type {
		case program.OpVariable:
			v, dims := sliceKept(values[op.Var], program.Resolve(op.Dims, 1), kept[i])
			nvalues[op.Var] = v
			if np.Variable(op.Var) == nil {
				np.Variables = append(np.Variables, program.Variable{Path: op.Var, DType: op.DType, Dims: dims})
			}
		case "Constant":
			v := make([]float32, len(op.Value))
			for k, x := range op.Value {
				v[k] = float32(x)
			}
			v, _ = sliceKept(v, op.Dims, kept[i])
			op2.Value = make([]float64, len(v))
			for k, x := range v {
				op2.Value[k] = float64(x)
			}
		case "Slice":
			for ax := range op.Dims {
				if k := kept[op.Inputs[0]][ax]; slices.Contains(k, false) && op.Limits[ax] >= 0 {
					op2.Limits[ax] = count(kept[op.Inputs[0]][ax], op.Limits[ax])
				}
			}
		case "Concatenate":
			if len(op2.Inputs) == 0 {
				return nil, nil, fmt.Errorf("%w: op #%d (Concatenate, near %s) loses all its operands", ErrEmptyLayer, i,
					nearestVariable(p, i))
			}
		}
		newIdx[i] = len(np.Ops)
		np.Ops = append(np.Ops, op2)
		if c, ok := comps[i]; ok {
			path := fmt.Sprintf("%s/op%d", CompensationScope, i)
			nvalues[path] = c.data
			term := c.emit(np, path)
			np.Ops = append(np.Ops, program.Op{Type: "Add", Inputs: []int{newIdx[i], term}, DType: op2.DType,
				Dims: slices.Clone(op2.Dims)})
			newIdx[i] = len(np.Ops) - 1
		}
	}
	np.Output = newIdx[p.Output]
	np = np.Prune()
	for i, op := range np.Ops {
		if slices.Contains(op.Dims, 0) {
			return nil, nil, fmt.Errorf("%w: op #%d (%s, near %s) would have shape %v", ErrEmptyLayer, i, op.Type,
				nearestVariable(np, i), op.Dims)
		}
	}
	for path := range nvalues {
		if np.Variable(path) == nil {
			delete(nvalues, path)
		}
	}
	if err := np.Validate(); err != nil {
		return nil, nil, fmt.Errorf("compact: the compacted program is invalid: %w", err)
	}
	return np, nvalues, nil
}

// MACs counts the multiply-accumulates per example of the program's Dot, DotGeneral and
// ConvGeneral ops (batch multiples resolved for a batch of 1).
func MACs(p *program.Program) int64 {
	var total int64
	for _, op := range p.Ops {
		out := int64(elements(program.Resolve(op.Dims, 1)))
		switch op.Type {
		case "Dot", "DotGeneral":
			l, _ := contractingAxes(&op)
			ld := program.Resolve(p.Ops[op.Inputs[0]].Dims, 1)
			k := int64(1)
			for _, ax := range l {
				k *= int64(ld[ax])
			}
			total += out * k
		case "ConvGeneral":
			kd := program.Resolve(p.Ops[op.Inputs[1]].Dims, 1)
			k := int64(kd[op.Conv.KernelInputChannels])
			for _, ax := range op.Conv.KernelSpatial {
				k *= int64(kd[ax])
			}
			total += out * k
		}
	}
	return total
}

// Compare runs two programs (each with its values) on the same random batch (uniform in [0, 1))
// with GoMLX and returns the largest absolute difference of their outputs and the largest |output|
// of the first.
func Compare(backend backends.Backend, a *program.Program, av map[string][]float32, b *program.Program,
	bv map[string][]float32, batch int, seed uint64) (diff, scale float64, err error) {
	in := a.Ops[a.Input()]
	x := tensors.FromShape(shapes.Make(in.DType, program.Resolve(in.Dims, batch)...))
	rng := rand.New(rand.NewPCG(seed, 0xc0))
	x.MutableFlatData(func(flat any) {
		if f, ok := flat.([]float32); ok {
			for i := range f {
				f[i] = rng.Float32()
			}
		}
	})
	run := func(p *program.Program, v map[string][]float32) ([]float32, error) {
		ctx, err := p.NewContext(v)
		if err != nil {
			return nil, err
		}
		out, err := p.Run(backend, ctx, x)
		if err != nil {
			return nil, err
		}
		return floats(out)
	}
	ya, err := run(a, av)
	if err != nil {
		return 0, 0, fmt.Errorf("compact: running the original model: %w", err)
	}
	yb, err := run(b, bv)
	if err != nil {
		return 0, 0, fmt.Errorf("compact: running the compacted model: %w", err)
	}
	if len(ya) != len(yb) {
		return math.Inf(1), 0, fmt.Errorf("%w: outputs of %d and %d values", ErrMismatch, len(ya), len(yb))
	}
	for i := range ya {
		diff = math.Max(diff, math.Abs(float64(ya[i]-yb[i])))
		scale = math.Max(scale, math.Abs(float64(ya[i])))
	}
	return diff, scale, nil
}
