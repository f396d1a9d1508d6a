package gomlxfix

import (
	"errors"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/google/go-cmp/cmp"
)

// TestArgsOf reads the arguments of nodes of each layout NodeArgs knows: if it fails after a GoMLX
// upgrade, the layout of graph.Node.inputs changed and NodeArgs needs updating.
func TestArgsOf(t *testing.T) {
	g := graph.NewGraph(backend(), "args")
	f32 := func(dims ...int) shapes.Shape { return shapes.Make(dtypes.Float32, dims...) }
	x := graph.Parameter(g, "x", f32(2, 3, 8, 8))
	kernel := graph.Parameter(g, "kernel", f32(4, 3, 3, 3))
	axes := backends.ConvolveAxesConfig{
		InputBatch: 0, InputChannels: 1, InputSpatial: []int{2, 3},
		KernelInputChannels: 1, KernelOutputChannels: 0, KernelSpatial: []int{2, 3},
		OutputBatch: 0, OutputChannels: 1, OutputSpatial: []int{2, 3},
	}
	conv := graph.ConvGeneral(x, kernel, axes, []int{2, 1}, [][2]int{{1, 1}, {0, 2}}, nil, []int{1, 2}, 1, 1)
	pool := graph.BackendReduceWindow(x, backends.ReduceOpMax, []int{1, 1, 2, 2}, []int{1, 1, 2, 2}, nil, nil, nil)
	slice := graph.Slice(x, graph.AxisRange(), graph.AxisRange(1, 3), graph.AxisRange(0, 8).Stride(2))

	// read holds what the test reads from a node, by field name.
	type read struct {
		Conv    backends.ConvolveAxesConfig
		Ints    map[string][]int
		Pairs   map[string][][2]int
		IntVals map[string]int
	}
	for _, tc := range []struct {
		name     string
		node     *graph.Node
		operands []string
		ints     []string
		pairs    []string
		intVals  []string
		want     read
	}{
		{
			name: "ConvGeneral", node: conv, operands: []string{"input", "kernel"},
			ints: []string{"strides", "inputDilations", "kernelDilations"}, pairs: []string{"paddings"},
			intVals: []string{"channelGroupCount", "batchGroupCount"},
			want: read{
				Conv:    axes,
				Ints:    map[string][]int{"strides": {2, 1}, "inputDilations": nil, "kernelDilations": {1, 2}},
				Pairs:   map[string][][2]int{"paddings": {{1, 1}, {0, 2}}},
				IntVals: map[string]int{"channelGroupCount": 1, "batchGroupCount": 1},
			},
		},
		{
			name: "ReduceWindow", node: pool, operands: []string{"x"},
			ints: []string{"windowDimensions", "strides", "baseDilations", "windowDilations"}, pairs: []string{"paddings"},
			intVals: []string{"reductionType"},
			want: read{
				Ints: map[string][]int{"windowDimensions": {1, 1, 2, 2}, "strides": {1, 1, 2, 2},
					"baseDilations": nil, "windowDilations": nil},
				Pairs:   map[string][][2]int{"paddings": nil},
				IntVals: map[string]int{"reductionType": int(backends.ReduceOpMax)},
			},
		},
		{
			name: "Slice", node: slice, operands: []string{"x"}, ints: []string{"starts", "limits", "strides"},
			want: read{Ints: map[string][]int{"starts": {0, 1, 0, 0}, "limits": {2, 3, 8, 8}, "strides": {1, 1, 2, 1}}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := ArgsOf(tc.node)
			for i, name := range tc.operands {
				a.Operand(name, i)
			}
			got := read{}
			if tc.want.Conv.InputSpatial != nil {
				got.Conv = a.ConvAxes("axes")
			}
			if tc.ints != nil {
				got.Ints = map[string][]int{}
				for _, name := range tc.ints {
					got.Ints[name] = a.Ints(name)
				}
			}
			if tc.pairs != nil {
				got.Pairs = map[string][][2]int{}
				for _, name := range tc.pairs {
					got.Pairs[name] = a.Pairs(name)
				}
			}
			if tc.intVals != nil {
				got.IntVals = map[string]int{}
				for _, name := range tc.intVals {
					got.IntVals[name] = a.Int(name)
				}
			}
			if err := a.Err(); err != nil {
				t.Fatalf("ArgsOf(%s node): %v", tc.name, err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ArgsOf(%s node): -want +got:\n%s", tc.name, diff)
			}
		})
	}
}

// TestArgsOfFloat reads the float argument of a BatchNormForInference node (package program replays
// those). SimpleGo cannot build one, so the graph is built on batchNormBackend.
func TestArgsOfFloat(t *testing.T) {
	g := graph.NewGraph(batchNormBackend{backend()}, "float")
	x := graph.Parameter(g, "x", shapes.Make(dtypes.Float32, 2, 3))
	v := graph.Parameter(g, "v", shapes.Make(dtypes.Float32, 3))
	bn := graph.InternalBatchNormForInference(x, v, v, v, v, 0.25, -1)
	a := ArgsOf(bn)
	eps, axis := a.Float("epsilon"), a.Int("featureAxis")
	if err := a.Err(); err != nil {
		t.Fatal(err)
	}
	if eps != 0.25 || axis != 1 {
		t.Errorf("epsilon, featureAxis = %g, %d, want 0.25, 1", eps, axis)
	}
}

// batchNormBackend is a backend whose builders build BatchNormForInference (as the identity of its
// operand), so that tests can make such nodes on SimpleGo.
type batchNormBackend struct{ backends.Backend }

func (b batchNormBackend) Builder(name string) backends.Builder {
	return batchNormBuilder{b.Backend.Builder(name)}
}

type batchNormBuilder struct{ backends.Builder }

func (b batchNormBuilder) BatchNormForInference(operand, _, _, _, _ backends.Op, _ float32, _ int) (backends.Op, error) {
	return b.Identity(operand)
}

// TestNodeArgsErrors checks that every read that does not find the layout it expects records an
// error wrapping ErrGoMLXChanged that names the node type, the struct and the field; that the
// first error is kept; and that later reads return zero values.
func TestNodeArgsErrors(t *testing.T) {
	g := graph.NewGraph(backend(), "errors")
	x := graph.Parameter(g, "x", shapes.Make(dtypes.Float32, 2, 4))
	slice := graph.Slice(x, graph.AxisRange(0, 1))
	add := graph.Add(x, x)
	for _, tc := range []struct {
		name string
		args func() *NodeArgs
		read func(a *NodeArgs) any
		want []string // substrings of the error
	}{
		{"unexpected layout: no inputs", func() *NodeArgs { return ArgsOf(&graph.Node{}) },
			func(a *NodeArgs) any { return a.Ints("starts") },
			[]string{"Invalid node", `no non-nil interface field "inputs"`}},
		{"wrong node type", func() *NodeArgs { return argsOfType(add, graph.NodeTypeSlice) },
			func(a *NodeArgs) any { return a.Ints("starts") },
			[]string{"Add node (graph.nodeInputsSlice)", "node type is Add, want Slice"}},
		{"missing field", func() *NodeArgs { return ArgsOf(slice) },
			func(a *NodeArgs) any { return a.Ints("begins") },
			[]string{"Slice node (graph.nodeInputsSlice)", `no slice field "begins"`}},
		{"Int of a slice", func() *NodeArgs { return ArgsOf(slice) },
			func(a *NodeArgs) any { return a.Int("starts") },
			[]string{`no integer field "starts"`}},
		{"Float of a slice", func() *NodeArgs { return ArgsOf(slice) },
			func(a *NodeArgs) any { return a.Float("starts") },
			[]string{`no float field "starts"`}},
		{"Pairs of []int", func() *NodeArgs { return ArgsOf(slice) },
			func(a *NodeArgs) any { return a.Pairs("starts") },
			[]string{`field "starts" is a []int, want [][2]int`}},
		{"ConvAxes of []int", func() *NodeArgs { return ArgsOf(slice) },
			func(a *NodeArgs) any { return a.ConvAxes("starts") },
			[]string{`no struct field "starts"`}},
		{"Operand of the wrong input", func() *NodeArgs { return ArgsOf(slice) },
			func(a *NodeArgs) any { a.Operand("x", 1); return nil },
			[]string{`field "x" is not the node's input #1`}},
		{"Failf", func() *NodeArgs { return ArgsOf(slice) },
			func(a *NodeArgs) any { a.Failf("bounds %v", []int{1}); return nil },
			[]string{"Slice node (graph.nodeInputsSlice): bounds [1]"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := tc.args()
			tc.read(a)
			err := a.Err()
			if !errors.Is(err, ErrGoMLXChanged) {
				t.Fatalf("Err() = %v, want an error wrapping ErrGoMLXChanged", err)
			}
			for _, s := range tc.want {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("Err() = %q, want it to contain %q", err, s)
				}
			}
			// The first error is kept, and reads after it return zero values.
			if got := a.Ints("limits"); got != nil {
				t.Errorf("Ints after an error = %v, want nil", got)
			}
			a.Failf("a later error")
			if a.Err() != err {
				t.Errorf("Err() = %v after a later failure, want the first error %v", a.Err(), err)
			}
		})
	}
}

// TestWorkaroundsPanicOnUnexpectedNodes checks the loud failure path of the workarounds: a node not
// laid out as the workaround expects makes it panic, before building anything, with an error
// wrapping ErrGoMLXChanged that names the node and the GoMLX struct and says what to do.
func TestWorkaroundsPanicOnUnexpectedNodes(t *testing.T) {
	g := graph.NewGraph(backend(), "panics")
	x := graph.Parameter(g, "x", shapes.Make(dtypes.Float32, 2, 2))
	for _, tc := range []struct {
		name, typeName string
		node           *graph.Node
		read           func(*graph.Node)
	}{
		{"dotGeneralAxesOf(Add)", "nodeInputsDotGeneral", graph.Add(x, x), func(n *graph.Node) { dotGeneralAxesOf(n) }},
		{"dotGeneralAxesOf(Dot)", "nodeInputsDotGeneral", graph.Dot(x, x), func(n *graph.Node) { dotGeneralAxesOf(n) }},
		{"convParamsOf(Add)", "nodeInputsConvGeneral", graph.Add(x, x), func(n *graph.Node) { convParamsOf(n) }},
		{"windowParamsOf(Add)", "nodeInputsReduceWindow", graph.Add(x, x), func(n *graph.Node) { windowParamsOf(n) }},
		{"firstExtremeVJP(Add)", "nodeInputsReduceMax", graph.Add(x, x),
			func(n *graph.Node) { firstExtremeVJP(n, []*graph.Node{n}, n.Shape()) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := func() (err error) {
				defer func() {
					if r := recover(); r != nil {
						err, _ = r.(error)
						if err == nil {
							err = errors.New("panic with a non-error value")
						}
					}
				}()
				tc.read(tc.node)
				return nil
			}()
			if !errors.Is(err, ErrGoMLXChanged) {
				t.Fatalf("panicked with %v, want an error wrapping ErrGoMLXChanged", err)
			}
			for _, s := range []string{tc.node.String(), "graph." + tc.typeName,
				"update gomlxfix for the GoMLX version in go.mod"} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("panic %q does not contain %q", err, s)
				}
			}
		})
	}
}
