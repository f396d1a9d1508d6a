package pruning

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// ModelInfo describes how a model uses its variables, for FLOP counting. [MeasureModel] derives
// it by building the model graph once; callers may also fill it in themselves.
type ModelInfo struct {
	// Variables lists the paths of the model's variables (those its inference graph uses), in
	// path order ([ComparePaths]). They are the "parameters" of the report.
	Variables []string `json:"variables"`
	// Positions maps the path of a weight consumed by a matrix multiplication or convolution to
	// the number of times each of its weights is used per example: 1 for a dense layer on a
	// vector, out_h·out_w for a 2-D convolution (for a dense layer on a sequence, its length).
	// Per-example multiply-accumulates of the layer = weights × positions.
	Positions map[string]int64 `json:"positions"`
}

// passThrough node types are followed from a weight to the operation that consumes it.
var passThrough = map[graph.NodeType]bool{
	graph.NodeTypeReshape: true, graph.NodeTypeTranspose: true, graph.NodeTypeConvertDType: true,
	graph.NodeTypeIdentity: true, graph.NodeTypeMul: true, graph.NodeTypeWhere: true,
	graph.NodeTypeReverse: true, graph.NodeTypeGather: true,
}

// MeasureModel builds the model graph once (not compiled or run), in inference mode, for an
// input of the given shape (first axis the batch), and records which variables it uses and, for
// each weight multiplied by a Dot/DotGeneral or ConvGeneral, its positions per example (the
// consumer's output size per example divided by the number of output units). Variables the model
// creates are added to ctx uninitialized. fn must not need training-only state.
func MeasureModel(backend backends.Backend, ctx *context.Context, fn ModelFn, input shapes.Shape) (info *ModelInfo,
	err error) {
	if input.Rank() == 0 || input.Dimensions[0] <= 0 {
		return nil, fmt.Errorf("pruning: MeasureModel: input shape %s needs a batch axis", input)
	}
	g := graph.NewGraph(backend, "pruning_measure")
	defer g.Finalize()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("pruning: MeasureModel: building the model: %v", r)
		}
	}()
	x := graph.Parameter(g, "x", input)
	mctx := ctx.Checked(false)
	mctx.SetTraining(g, false)
	fn(mctx, x)

	consumers := make(map[*graph.Node][]*graph.Node)
	for _, n := range g.Nodes() {
		for _, in := range n.Inputs() {
			consumers[in] = append(consumers[in], n)
		}
	}
	batch := int64(input.Dimensions[0])
	rules := rulesOf(ctx)
	info = &ModelInfo{Positions: make(map[string]int64)}
	for v := range ctx.IterVariables() {
		if !v.InUseByGraph(g) {
			continue
		}
		info.Variables = append(info.Variables, v.ScopeAndName())
		t := newTarget(v, rules)
		outs := int64(t.NumOutputs())
		if outs == 0 {
			continue
		}
		var positions int64
		seen := map[*graph.Node]bool{}
		queue := []*graph.Node{v.ValueGraph(g)}
		for len(queue) > 0 {
			n := queue[0]
			queue = queue[1:]
			for _, c := range consumers[n] {
				if seen[c] {
					continue
				}
				seen[c] = true
				switch {
				case c.Type() == graph.NodeTypeDot || c.Type() == graph.NodeTypeDotGeneral ||
					c.Type() == graph.NodeTypeConvGeneral:
					positions += int64(c.Shape().Size()) / batch / outs
				case passThrough[c.Type()]:
					queue = append(queue, c)
				}
			}
		}
		if positions > 0 {
			info.Positions[v.ScopeAndName()] = positions
		}
	}
	slices.SortFunc(info.Variables, ComparePaths)
	return info, nil
}

// LayerReport describes one variable of the model.
type LayerReport struct {
	Path     string  `json:"path"`
	Kind     Kind    `json:"kind"`
	Shape    []int   `json:"shape"`
	Masked   bool    `json:"masked"`
	Params   int     `json:"params"`
	NonZero  int     `json:"nonzero"`
	Sparsity float64 `json:"sparsity"`
	// DenseFLOPs and EffectiveFLOPs count multiply-accumulates per example (ShrinkBench's
	// "FLOPs"): weights × positions, and that times the fraction of non-zero weights.
	DenseFLOPs     int64 `json:"dense_flops"`
	EffectiveFLOPs int64 `json:"effective_flops"`
	// ZeroOutputs and ZeroInputs count output units (neurons, filters) and input features or
	// channels whose weights are all zero; StructuredFLOPs is DenseFLOPs with those removed,
	// what compaction would give on dense hardware.
	ZeroOutputs     int   `json:"zero_outputs"`
	ZeroInputs      int   `json:"zero_inputs"`
	StructuredFLOPs int64 `json:"structured_flops"`
	// Is2to4 reports that every 4 consecutive inputs hold at most 2 non-zero weights (the
	// pattern sparse tensor cores run at up to 2x).
	Is2to4 bool `json:"is_2to4"`
}

// Report summarizes a model's sparsity and cost, per layer and in total, following ShrinkBench
// (Blalock et al., "What is the State of Neural Network Pruning?", MLSys 2020):
// compression = total params / non-zero params, theoretical speedup = dense FLOPs / effective
// FLOPs, with FLOPs counted as multiply-accumulates of dense and convolution layers per example.
type Report struct {
	Layers          []LayerReport `json:"layers"`
	Params          int           `json:"params"`
	NonZero         int           `json:"nonzero"`
	Sparsity        float64       `json:"sparsity"`
	MaskedParams    int           `json:"masked_params"`
	MaskedNonZero   int           `json:"masked_nonzero"`
	MaskedSparsity  float64       `json:"masked_sparsity"`
	DenseFLOPs      int64         `json:"dense_flops"`
	EffectiveFLOPs  int64         `json:"effective_flops"`
	StructuredFLOPs int64         `json:"structured_flops"`
	// Compression is Params/NonZero (0 if NonZero is 0).
	Compression float64 `json:"compression"`
	// Speedup is DenseFLOPs/EffectiveFLOPs, the theoretical speedup of sparse kernels (0 if
	// unknown); StructuredSpeedup is DenseFLOPs/StructuredFLOPs, reachable by compaction.
	Speedup           float64  `json:"speedup"`
	StructuredSpeedup float64  `json:"structured_speedup"`
	Warnings          []string `json:"warnings,omitempty"`
}

// NewReport reports on the variables of ctx. With info (from [MeasureModel]) it covers exactly
// the model's variables and counts FLOPs; with nil it covers the trainable variables outside
// [Scope] and reports no FLOPs (after a checkpoint restore every variable, optimizer state
// included, comes back trainable: pass a ModelInfo then). Sparsity counts weights whose value
// is exactly zero.
func NewReport(ctx *context.Context, info *ModelInfo) (*Report, error) {
	rules := rulesOf(ctx)
	var vars []*context.Variable
	if info != nil {
		for _, p := range info.Variables {
			scope, name := context.SplitScope(p)
			v := ctx.GetVariableByScopeAndName(scope, name)
			if v == nil {
				return nil, fmt.Errorf("pruning: report: no variable %s", p)
			}
			vars = append(vars, v)
		}
	} else {
		for v := range ctx.IterVariables() {
			if v.Trainable && !strings.HasPrefix(v.ScopeAndName(), Scope+context.ScopeSeparator) {
				vars = append(vars, v)
			}
		}
		slices.SortFunc(vars, func(a, b *context.Variable) int { return ComparePaths(a.ScopeAndName(), b.ScopeAndName()) })
	}
	r := &Report{}
	unstructuredOnly := false
	for _, v := range vars {
		t := newTarget(v, rules)
		values, err := variableFloats(v)
		if err != nil {
			return nil, err
		}
		l := LayerReport{Path: t.Path(), Kind: t.Kind, Shape: t.Shape, Params: len(values),
			Masked: maskVariable(ctx, t.Path()) != nil}
		nonZero := make([]bool, len(values))
		for i, x := range values {
			if x != 0 {
				l.NonZero++
				nonZero[i] = true
			}
		}
		if l.Params > 0 {
			l.Sparsity = 1 - float64(l.NonZero)/float64(l.Params)
		}
		if info != nil {
			if pos := info.Positions[l.Path]; pos > 0 {
				l.DenseFLOPs = int64(l.Params) * pos
				l.EffectiveFLOPs = int64(l.NonZero) * pos
				l.StructuredFLOPs = l.DenseFLOPs
			}
		}
		if t.In.Len() > 0 && t.Out.Len() > 0 && l.Params > 0 {
			l.ZeroOutputs = countZeroGroups(t, OutputChannels{}, nonZero)
			l.ZeroInputs = countZeroGroups(t, InputChannels{}, nonZero)
			keptFrac := (1 - float64(l.ZeroOutputs)/float64(t.NumOutputs())) *
				(1 - float64(l.ZeroInputs)/float64(t.NumInputs()))
			l.StructuredFLOPs = int64(math.Round(float64(l.DenseFLOPs) * keptFrac))
			if t.In.Len() == 1 && t.Shape[t.In.Begin]%4 == 0 && l.Sparsity > 0 {
				l.Is2to4 = isNM(t, nonZero, 2, 4)
			}
			if l.Sparsity > 0 && l.StructuredFLOPs == l.DenseFLOPs && l.DenseFLOPs > 0 && !l.Is2to4 {
				unstructuredOnly = true
			}
		}
		r.Layers = append(r.Layers, l)
		r.Params += l.Params
		r.NonZero += l.NonZero
		if l.Masked {
			r.MaskedParams += l.Params
			r.MaskedNonZero += l.NonZero
		}
		r.DenseFLOPs += l.DenseFLOPs
		r.EffectiveFLOPs += l.EffectiveFLOPs
		r.StructuredFLOPs += l.StructuredFLOPs
	}
	if r.Params > 0 {
		r.Sparsity = 1 - float64(r.NonZero)/float64(r.Params)
	}
	if r.MaskedParams > 0 {
		r.MaskedSparsity = 1 - float64(r.MaskedNonZero)/float64(r.MaskedParams)
	}
	if r.NonZero > 0 {
		r.Compression = float64(r.Params) / float64(r.NonZero)
	}
	if r.EffectiveFLOPs > 0 {
		r.Speedup = float64(r.DenseFLOPs) / float64(r.EffectiveFLOPs)
	}
	if r.StructuredFLOPs > 0 {
		r.StructuredSpeedup = float64(r.DenseFLOPs) / float64(r.StructuredFLOPs)
	}
	if info == nil {
		r.Warnings = append(r.Warnings, "FLOPs not counted: build the report with a ModelInfo (MeasureModel)")
	}
	if unstructuredOnly && r.Speedup > 1 {
		r.Warnings = append(r.Warnings, fmt.Sprintf("unstructured sparsity: the %.2fx theoretical speedup needs "+
			"sparse kernels; on dense hardware it brings none by itself (structured speedup %.2fx). Prune "+
			"structures (out_channels) and compact, or use N:M (2:4) for sparse tensor cores",
			r.Speedup, r.StructuredSpeedup))
	}
	return r, nil
}

// countZeroGroups counts the groups of s in t whose elements are all zero.
func countZeroGroups(t Target, s Structure, nonZero []bool) int {
	group, n, err := s.Groups(t)
	if err != nil {
		return 0
	}
	alive := make([]bool, n)
	for i, g := range group {
		if nonZero[i] {
			alive[g] = true
		}
	}
	zeros := 0
	for _, a := range alive {
		if !a {
			zeros++
		}
	}
	return zeros
}

// isNM reports whether every group of m consecutive inputs has at most n non-zeros.
func isNM(t Target, nonZero []bool, n, m int) bool {
	group, numGroups, err := NM{N: n, M: m}.Groups(t)
	if err != nil {
		return false
	}
	count := make([]int, numGroups)
	for i, g := range group {
		if nonZero[i] {
			count[g]++
			if count[g] > n {
				return false
			}
		}
	}
	return true
}

// String renders the report as a text table.
func (r *Report) String() string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "layer\tkind\tshape\tparams\tnonzero\tsparsity\tdense FLOPs\teffective FLOPs")
	for _, l := range r.Layers {
		name := l.Path
		if l.Masked {
			name += " *"
		}
		fmt.Fprintf(tw, "%s\t%s\t%v\t%d\t%d\t%.2f%%\t%d\t%d\n", name, l.Kind, l.Shape, l.Params, l.NonZero,
			100*l.Sparsity, l.DenseFLOPs, l.EffectiveFLOPs)
	}
	fmt.Fprintf(tw, "total\t\t\t%d\t%d\t%.2f%%\t%d\t%d\n", r.Params, r.NonZero, 100*r.Sparsity, r.DenseFLOPs,
		r.EffectiveFLOPs)
	_ = tw.Flush()
	fmt.Fprintf(&b, "masked (*): %d params, %d non-zero, sparsity %.2f%%\n", r.MaskedParams, r.MaskedNonZero,
		100*r.MaskedSparsity)
	fmt.Fprintf(&b, "compression %.2fx, theoretical speedup %.2fx, structured speedup %.2fx (FLOPs = MACs per example)\n",
		r.Compression, r.Speedup, r.StructuredSpeedup)
	for _, w := range r.Warnings {
		fmt.Fprintf(&b, "warning: %s\n", w)
	}
	return b.String()
}

// JSON returns the report as indented JSON.
func (r *Report) JSON() ([]byte, error) { return json.MarshalIndent(r, "", "  ") }
