package program_test

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/layers"

	"github.com/prunelab/prunelab/program"
)

// TestFold folds a model whose input-independent parts are a weight times its mask, a scale and an
// offset computed from statistics, and a pattern built by slices and a concatenation: the folded
// program computes the same outputs at several batch sizes, has none of those ops left (the scale
// went into the weights, offset and pattern into one addition), folds to itself, and the program it
// was given is unchanged.
func TestFold(t *testing.T) {
	b := newBackend(t)
	ctx := context.New()
	ctx.SetParam(context.ParamInitialSeed, int64(3))
	fn := func(ctx *context.Context, x *graph.Node) *graph.Node {
		g := x.Graph()
		w := ctx.In("fc0").VariableWithShape("weights", shapes.Make(dtypes.Float32, 6, 4)).ValueGraph(g)
		mask := ctx.In("fc0").VariableWithValue("mask", [][]float32{
			{1, 0, 1, 1}, {1, 1, 0, 1}, {0, 1, 1, 1}, {1, 1, 1, 0}, {1, 0, 1, 1}, {1, 1, 1, 1}}).ValueGraph(g)
		y := graph.Dot(x, graph.Mul(w, mask))
		variance := ctx.In("norm").VariableWithValue("variance", []float32{1, 4, 0.25, 2}).ValueGraph(g)
		mean := ctx.In("norm").VariableWithValue("mean", []float32{0.5, -1, 0, 2}).ValueGraph(g)
		factor := graph.Rsqrt(graph.AddScalar(variance, 1e-5))
		y = graph.Add(graph.Mul(y, graph.ExpandDims(factor, 0)), graph.ExpandDims(graph.Neg(graph.Mul(mean, factor)), 0))
		edge := ctx.In("edge").VariableWithValue("pattern", [][]float32{{1, 2, 3, 4}}).ValueGraph(g)
		y = graph.Add(y, graph.Concatenate([]*graph.Node{graph.Slice(edge, graph.AxisRange(), graph.AxisRange(2, 4)),
			graph.Slice(edge, graph.AxisRange(), graph.AxisRange(0, 2))}, 1))
		return layers.Dense(ctx.In("fc1"), graph.Max(y, graph.ZerosLike(y)), true, 3)
	}
	x := randomInput(5, []int{6}, 4)
	want := context.MustExecOnce(b, ctx, fn, x)
	p, err := program.Trace(b, ctx, fn, shapes.Make(dtypes.Float32, 6))
	if err != nil {
		t.Fatal(err)
	}
	values, err := p.Values(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var before bytes.Buffer
	if err := p.Encode(&before); err != nil {
		t.Fatal(err)
	}
	folded, foldedValues, fctx := fold(t, b, p, values)
	var after bytes.Buffer
	if err := p.Encode(&after); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before.Bytes(), after.Bytes()) {
		t.Error("Fold changed the program it was given")
	}
	got, err := folded.Run(b, fctx, x)
	if err != nil {
		t.Fatal(err)
	}
	if d := maxAbsDiff(t, want, got); d > 1e-6 {
		t.Errorf("the folded program's outputs differ by %g", d)
	}
	if _, err := folded.Run(b, fctx, randomInput(2, []int{6}, 5)); err != nil {
		t.Errorf("another batch size: %v", err)
	}
	// Nothing input-independent is computed any more but variables and constants.
	constant := make([]bool, len(folded.Ops))
	for i, op := range folded.Ops {
		switch op.Type {
		case program.OpInput:
		case program.OpVariable, "Constant":
			constant[i] = true
		default:
			constant[i] = !slices.ContainsFunc(op.Dims, func(d int) bool { return d < 0 }) &&
				!slices.ContainsFunc(op.Inputs, func(in int) bool { return !constant[in] })
			if constant[i] {
				t.Errorf("folded op #%d (%s) does not depend on the input", i, op.Type)
			}
		}
	}
	// Left: the input, x·(w·mask·factor) (weights transposed for SimpleGo's layout), + (offset +
	// pattern), ReLU (against a single zero, not a broadcast tensor of zeros), the dense layer.
	var kept []string
	for _, op := range folded.Ops {
		if op.Type != program.OpVariable && op.Type != "Constant" {
			kept = append(kept, op.Type)
		}
	}
	if want := []string{"Input", "DotGeneral", "Add", "Max", "DotGeneral", "Add"}; !slices.Equal(kept, want) {
		t.Errorf("folded program's ops %v, want %v", kept, want)
	}
	var foldedVars []string
	for _, v := range folded.Variables {
		if strings.HasPrefix(v.Path, program.FoldedScope+"/") {
			foldedVars = append(foldedVars, v.Path)
		}
		if _, ok := foldedValues[v.Path]; !ok {
			t.Errorf("no value for variable %s", v.Path)
		}
	}
	if len(foldedVars) != 4 { // (w·mask·factor)ᵀ, offset + pattern, fc1's weightsᵀ, its bias reshaped to [1, 3]
		t.Errorf("folded variables %v, want 4", foldedVars)
	}
	if len(foldedValues) != len(folded.Variables) {
		t.Errorf("%d values for %d variables", len(foldedValues), len(folded.Variables))
	}
	if len(folded.Ops) >= len(p.Ops) {
		t.Errorf("folded program has %d ops, the original %d", len(folded.Ops), len(p.Ops))
	}
	again, _, err := program.Fold(b, folded, foldedValues)
	if err != nil || len(again.Ops) != len(folded.Ops) {
		t.Errorf("folding again: %d ops (was %d), error %v", len(again.Ops), len(folded.Ops), err)
	}
}

// TestFoldNameTaken folds a hand-written program whose variable already has the name Fold would
// give the op it computes: the new variable gets another name, and the output is right.
func TestFoldNameTaken(t *testing.T) {
	b := newBackend(t)
	taken := program.FoldedScope + "/op2"
	p := &program.Program{
		Version:   program.Version,
		Variables: []program.Variable{{Path: taken, DType: dtypes.Float32, Dims: []int{3}}},
		Ops: []program.Op{
			{Type: program.OpInput, DType: dtypes.Float32, Dims: []int{-1, 3}},
			{Type: program.OpVariable, Var: taken, DType: dtypes.Float32, Dims: []int{3}},
			{Type: "Reshape", Inputs: []int{1}, DType: dtypes.Float32, Dims: []int{1, 3}},
			{Type: "Add", Inputs: []int{0, 2}, DType: dtypes.Float32, Dims: []int{-1, 3}},
		},
		Output: 3,
	}
	folded, _, ctx := fold(t, b, p, map[string][]float32{taken: {1, 2, 3}})
	var paths []string
	for _, v := range folded.Variables {
		paths = append(paths, v.Path)
	}
	if want := []string{taken + ".2"}; !slices.Equal(paths, want) {
		t.Errorf("folded variables %v, want %v", paths, want)
	}
	out, err := folded.Run(b, ctx, tensors.FromFlatDataAndDimensions([]float32{10, 20, 30}, 1, 3))
	if err != nil {
		t.Fatal(err)
	}
	if got := tensors.MustCopyFlatData[float32](out); !slices.Equal(got, []float32{11, 22, 33}) {
		t.Errorf("output %v, want [11 22 33]", got)
	}
}

// fold folds p and returns the folded program, its values and a context holding them.
func fold(t *testing.T, b backends.Backend, p *program.Program, values map[string][]float32) (*program.Program, map[string][]float32, *context.Context) {
	t.Helper()
	folded, foldedValues, err := program.Fold(b, p, values)
	if err != nil {
		t.Fatal(err)
	}
	ctx, err := folded.NewContext(foldedValues)
	if err != nil {
		t.Fatal(err)
	}
	return folded, foldedValues, ctx
}
