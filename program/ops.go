package program

import (
	"fmt"
	"slices"
	"sort"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/prunelab/prunelab/internal/gomlxfix"
)

// opSpec says how to read an op from a traced node and how to rebuild it.
type opSpec struct {
	// operands is the number of operands, -1 for any number >= 1.
	operands int
	// read fills op's attributes from the node's arguments.
	read func(a *gomlxfix.NodeArgs, op *Op)
	// build rebuilds the op in g from its operands; dims are the op's dims for the batch size.
	build func(g *graph.Graph, op *Op, in []*graph.Node, dims []int, batch int) *graph.Node
}

var opSpecs = map[string]opSpec{}

// Supported lists the op types a Program can hold, sorted.
func Supported() []string {
	names := make([]string, 0, len(opSpecs))
	for n := range opSpecs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Elementwise op types: unary ones take one operand, binary ones two operands of the same rank
// whose dimensions are equal or 1 (broadcast).
var (
	unaryOps = map[string]func(*graph.Node) *graph.Node{
		"Abs": graph.Abs, "Neg": graph.Neg, "Exp": graph.Exp, "Expm1": graph.Expm1, "Log": graph.Log,
		"Log1p": graph.Log1p, "Sqrt": graph.Sqrt, "Rsqrt": graph.Rsqrt, "Tanh": graph.Tanh,
		"Logistic": graph.Logistic, "Sign": graph.Sign, "Floor": graph.Floor, "Ceil": graph.Ceil,
		"Round": graph.Round, "Identity": graph.Identity, "Erf": graph.Erf, "LogicalNot": graph.LogicalNot,
		"Sin": graph.Sin, "Cos": graph.Cos,
	}
	binaryOps = map[string]func(a, b *graph.Node) *graph.Node{
		"Add": graph.Add, "Sub": graph.Sub, "Mul": graph.Mul, "Div": graph.Div, "Max": graph.Max,
		"Min": graph.Min, "Pow": graph.Pow, "Rem": graph.Rem, "Equal": graph.Equal, "NotEqual": graph.NotEqual,
		"GreaterThan": graph.GreaterThan, "GreaterOrEqual": graph.GreaterOrEqual, "LessThan": graph.LessThan,
		"LessOrEqual": graph.LessOrEqual, "LogicalAnd": graph.LogicalAnd, "LogicalOr": graph.LogicalOr,
	}
	reduceOps = map[string]func(*graph.Node, ...int) *graph.Node{
		"ReduceSum": graph.ReduceSum, "ReduceMax": graph.ReduceMax, "ReduceMin": graph.ReduceMin,
		"ReduceProduct": graph.ReduceMultiply,
	}
)

// IsUnary reports whether the op type is an elementwise function of one operand.
func IsUnary(t string) bool { _, ok := unaryOps[t]; return ok }

// IsBinary reports whether the op type is an elementwise function of two operands.
func IsBinary(t string) bool { _, ok := binaryOps[t]; return ok }

// IsReduce reports whether the op type reduces axes (Op.Axes) of its operand.
func IsReduce(t string) bool { _, ok := reduceOps[t]; return ok }

func init() {
	for name, fn := range unaryOps {
		opSpecs[name] = opSpec{operands: 1, build: func(_ *graph.Graph, _ *Op, in []*graph.Node, _ []int, _ int) *graph.Node {
			return fn(in[0])
		}}
	}
	for name, fn := range binaryOps {
		opSpecs[name] = opSpec{operands: 2, build: func(_ *graph.Graph, _ *Op, in []*graph.Node, _ []int, _ int) *graph.Node {
			return fn(in[0], in[1])
		}}
	}
	for name, fn := range reduceOps {
		opSpecs[name] = opSpec{operands: 1,
			read: func(a *gomlxfix.NodeArgs, op *Op) { op.Axes = a.Ints("axes") },
			build: func(_ *graph.Graph, op *Op, in []*graph.Node, _ []int, _ int) *graph.Node {
				if len(op.Axes) == 0 {
					return graph.Identity(in[0]) // GoMLX reduces every axis when none is given.
				}
				return fn(in[0], op.Axes...)
			}}
	}
	opSpecs[OpInput] = opSpec{operands: 0}
	opSpecs[OpVariable] = opSpec{operands: 0}
	opSpecs["Constant"] = opSpec{operands: 0,
		build: func(g *graph.Graph, op *Op, _ []*graph.Node, dims []int, _ int) *graph.Node {
			return graph.ConstTensor(g, constantTensor(op.DType, dims, op.Value))
		}}
	opSpecs["Iota"] = opSpec{operands: 0,
		read: func(a *gomlxfix.NodeArgs, op *Op) { op.Axis = a.Int("iotaAxis") },
		build: func(g *graph.Graph, op *Op, _ []*graph.Node, dims []int, _ int) *graph.Node {
			return graph.Iota(g, shapes.Make(op.DType, dims...), op.Axis)
		}}
	opSpecs["Reshape"] = opSpec{operands: 1,
		build: func(_ *graph.Graph, _ *Op, in []*graph.Node, dims []int, _ int) *graph.Node {
			return graph.Reshape(in[0], dims...)
		}}
	opSpecs["ConvertDType"] = opSpec{operands: 1,
		build: func(_ *graph.Graph, op *Op, in []*graph.Node, _ []int, _ int) *graph.Node {
			return graph.ConvertDType(in[0], op.DType)
		}}
	opSpecs["BroadcastInDim"] = opSpec{operands: 1,
		read: func(a *gomlxfix.NodeArgs, op *Op) {
			op.Axes = a.Ints("broadcastAxes")
			if !slices.IsSorted(op.Axes) {
				a.Failf("broadcastAxes %v are not in increasing order", op.Axes)
			}
		},
		build: func(_ *graph.Graph, op *Op, in []*graph.Node, dims []int, _ int) *graph.Node {
			x := in[0]
			if x.Rank() > 0 && x.Rank() != len(dims) {
				expanded := make([]int, len(dims))
				for i := range expanded {
					expanded[i] = 1
				}
				for i, axis := range op.Axes {
					expanded[axis] = x.Shape().Dim(i)
				}
				x = graph.Reshape(x, expanded...)
			}
			return graph.BroadcastToDims(x, dims...)
		}}
	opSpecs["Transpose"] = opSpec{operands: 1,
		read: func(a *gomlxfix.NodeArgs, op *Op) { op.Axes = a.Ints("permutation") },
		build: func(_ *graph.Graph, op *Op, in []*graph.Node, _ []int, _ int) *graph.Node {
			return graph.TransposeAllDims(in[0], op.Axes...)
		}}
	opSpecs["Reverse"] = opSpec{operands: 1,
		read: func(a *gomlxfix.NodeArgs, op *Op) { op.Axes = a.Ints("axes") },
		build: func(_ *graph.Graph, op *Op, in []*graph.Node, _ []int, _ int) *graph.Node {
			return graph.Reverse(in[0], op.Axes...)
		}}
	opSpecs["Concatenate"] = opSpec{operands: -1,
		read: func(a *gomlxfix.NodeArgs, op *Op) { op.Axis = a.Int("axis") },
		build: func(_ *graph.Graph, op *Op, in []*graph.Node, _ []int, _ int) *graph.Node {
			if len(in) == 1 {
				return in[0]
			}
			return graph.Concatenate(in, op.Axis)
		}}
	opSpecs["Slice"] = opSpec{operands: 1,
		read: func(a *gomlxfix.NodeArgs, op *Op) {
			op.Starts, op.Limits, op.Strides = a.Ints("starts"), a.Ints("limits"), a.Ints("strides")
		},
		build: func(_ *graph.Graph, op *Op, in []*graph.Node, _ []int, batch int) *graph.Node {
			starts, limits := Resolve(op.Starts, batch), Resolve(op.Limits, batch)
			specs := make([]graph.SliceAxisSpec, len(starts))
			for i := range specs {
				specs[i] = graph.AxisRange(starts[i], limits[i]).Stride(op.Strides[i])
			}
			return graph.Slice(in[0], specs...)
		}}
	opSpecs["Where"] = opSpec{operands: 3,
		build: func(_ *graph.Graph, _ *Op, in []*graph.Node, _ []int, _ int) *graph.Node {
			return graph.Where(in[0], in[1], in[2])
		}}
	opSpecs["Dot"] = opSpec{operands: 2,
		build: func(_ *graph.Graph, _ *Op, in []*graph.Node, _ []int, _ int) *graph.Node {
			return graph.Dot(in[0], in[1])
		}}
	opSpecs["DotGeneral"] = opSpec{operands: 2,
		read: func(a *gomlxfix.NodeArgs, op *Op) {
			a.Operand("lhs", 0)
			a.Operand("rhs", 1)
			op.Contracting = [2][]int{a.Ints("lhsContractingAxes"), a.Ints("rhsContractingAxes")}
			op.Batch = [2][]int{a.Ints("lhsBatchAxes"), a.Ints("rhsBatchAxes")}
		},
		build: func(_ *graph.Graph, op *Op, in []*graph.Node, _ []int, _ int) *graph.Node {
			return graph.DotGeneral(in[0], op.Contracting[0], op.Batch[0], in[1], op.Contracting[1], op.Batch[1])
		}}
	opSpecs["ConvGeneral"] = opSpec{operands: 2,
		read: func(a *gomlxfix.NodeArgs, op *Op) {
			a.Operand("input", 0)
			a.Operand("kernel", 1)
			ax := a.ConvAxes("axes")
			op.Conv = &ConvAttrs{
				InputBatch: ax.InputBatch, InputChannels: ax.InputChannels, InputSpatial: ax.InputSpatial,
				KernelInputChannels: ax.KernelInputChannels, KernelOutputChannels: ax.KernelOutputChannels,
				KernelSpatial: ax.KernelSpatial, OutputBatch: ax.OutputBatch, OutputChannels: ax.OutputChannels,
				OutputSpatial: ax.OutputSpatial, Strides: a.Ints("strides"), Paddings: a.Pairs("paddings"),
				InputDilations: a.Ints("inputDilations"), KernelDilations: a.Ints("kernelDilations"),
				ChannelGroupCount: a.Int("channelGroupCount"), BatchGroupCount: a.Int("batchGroupCount"),
			}
		},
		build: func(_ *graph.Graph, op *Op, in []*graph.Node, _ []int, _ int) *graph.Node {
			c := op.Conv
			axes := backends.ConvolveAxesConfig{
				InputBatch: c.InputBatch, InputChannels: c.InputChannels, InputSpatial: c.InputSpatial,
				KernelInputChannels: c.KernelInputChannels, KernelOutputChannels: c.KernelOutputChannels,
				KernelSpatial: c.KernelSpatial, OutputBatch: c.OutputBatch, OutputChannels: c.OutputChannels,
				OutputSpatial: c.OutputSpatial,
			}
			return graph.ConvGeneral(in[0], in[1], axes, c.Strides, c.Paddings, c.InputDilations, c.KernelDilations,
				c.ChannelGroupCount, c.BatchGroupCount)
		}}
	opSpecs["ReduceWindow"] = opSpec{operands: 1,
		read: func(a *gomlxfix.NodeArgs, op *Op) {
			op.Window = &WindowAttrs{Reduction: a.Int("reductionType"), Dimensions: a.Ints("windowDimensions"),
				Strides: a.Ints("strides"), BaseDilations: a.Ints("baseDilations"),
				WindowDilations: a.Ints("windowDilations"), Paddings: a.Pairs("paddings")}
		},
		build: func(_ *graph.Graph, op *Op, in []*graph.Node, _ []int, _ int) *graph.Node {
			w := op.Window
			return graph.BackendReduceWindow(in[0], backends.ReduceOpType(w.Reduction), w.Dimensions, w.Strides,
				w.BaseDilations, w.WindowDilations, w.Paddings)
		}}
	opSpecs["BatchNormForInference"] = opSpec{operands: 5,
		read: func(a *gomlxfix.NodeArgs, op *Op) {
			op.Epsilon = a.Float("epsilon")
			op.Axis = a.Int("featureAxis")
		},
		build: func(_ *graph.Graph, op *Op, in []*graph.Node, _ []int, _ int) *graph.Node {
			return graph.InternalBatchNormForInference(in[0], in[1], in[2], in[3], in[4], float32(op.Epsilon), op.Axis)
		}}
}

// constantTensor makes a tensor of the given dtype and dims from float64 values.
func constantTensor(dtype dtypes.DType, dims []int, values []float64) *tensors.Tensor {
	t := tensors.FromShape(shapes.Make(dtype, dims...))
	t.MutableFlatData(func(flat any) {
		switch f := flat.(type) {
		case []float32:
			for i, v := range values {
				f[i] = float32(v)
			}
		case []float64:
			copy(f, values)
		case []int32:
			for i, v := range values {
				f[i] = int32(v)
			}
		case []int64:
			for i, v := range values {
				f[i] = int64(v)
			}
		case []bool:
			for i, v := range values {
				f[i] = v != 0
			}
		default:
			panic(fmt.Sprintf("program: constants of dtype %s are not supported", dtype))
		}
	})
	return t
}
