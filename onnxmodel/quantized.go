package onnxmodel

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/onnx-gomlx/onnx"
	"google.golang.org/protobuf/proto"

	"github.com/prunelab/prunelab/internal/atomicfile"
	"github.com/prunelab/prunelab/quantize"
)

// ONNX tensor element types used here.
const (
	onnxFloat = 1
	onnxInt8  = 3
)

// WriteQuantized writes the model with ctx's weights to path (atomically) with every layer's
// weight in INT8: per output channel, symmetric (zero stays zero, so pruned weights stay pruned),
// scale max|w|/127 (package quantize), stored as an int8 initializer with its scales and read
// through a DequantizeLinear node — weight-only INT8 (W8A32) in standard ONNX operators (opset
// 13 or later, for per-axis scales), which ONNX Runtime and the ONNX checker accept. Other
// initializers keep ctx's float values. The written file is imported again and checked on a random
// batch against this model with the dequantized weights (example is the input shape without the
// batch, as for [Model.Trace]); the check's largest difference is returned.
func (m *Model) WriteQuantized(backend backends.Backend, path string, ctx *context.Context, example []int) (float64, error) {
	if m.Opset < 13 {
		return 0, fmt.Errorf("%w: %s: INT8 weights need per-axis DequantizeLinear (opset 13), the model is opset %d",
			ErrFormat, m.displayName(), m.Opset)
	}
	c := clone(&m.model.Proto)
	root := ctx.InAbsPath(context.RootScope)
	layers := map[string]Layer{}
	for _, l := range m.Layers {
		layers[l.Initializer] = l
	}
	deq := context.New() // the model with dequantized weights, for the check
	var inits = c.Graph.Initializer[:0:0]
	var nodes = c.Graph.Node[:0:0]
	for _, t := range c.Graph.Initializer {
		v := root.GetVariableByScopeAndName(splitPath(VariablePath(t.Name)))
		if v == nil {
			inits = append(inits, t)
			continue
		}
		value, err := v.Value()
		if err != nil {
			return 0, err
		}
		l, isLayer := layers[t.Name]
		if !isLayer || t.DataType != onnxFloat {
			if err := onnx.TensorValueToONNX(value, t); err != nil {
				return 0, fmt.Errorf("onnxmodel: writing %s: initializer %q: %w", path, t.Name, err)
			}
			inits = append(inits, t)
			copied, err := value.LocalClone()
			if err != nil {
				return 0, err
			}
			deq.InAbsPath(v.Scope()).VariableWithValue(v.Name(), copied)
			continue
		}
		w := tensors.MustCopyFlatData[float32](value)
		q, err := quantize.NewTensor(w, l.Shape, l.Layout.Out.Begin, nil)
		if err != nil {
			return 0, fmt.Errorf("onnxmodel: writing %s: initializer %q: %w", path, t.Name, err)
		}
		deq.InAbsPath(v.Scope()).VariableWithValue(v.Name(), tensors.FromFlatDataAndDimensions(q.Dequantize(), l.Shape...))
		qName, sName := t.Name+"_int8", t.Name+"_scale"
		raw := make([]byte, len(q.Values))
		for i, x := range q.Values {
			raw[i] = byte(x)
		}
		qt := newElem(c.Graph.Initializer)
		qt.Name, qt.DataType, qt.Dims, qt.RawData = qName, onnxInt8, slices.Clone(t.Dims), raw
		st := newElem(c.Graph.Initializer)
		st.Name, st.DataType, st.Dims, st.FloatData = sName, onnxFloat, []int64{int64(len(q.Scales))}, slices.Clone(q.Scales)
		// No zero point: it is optional and 0 by default, which symmetric quantization needs
		// (onnx-gomlx v0.3.4 also fails to broadcast a per-axis zero point).
		inits = append(inits, qt, st)
		n := newElem(c.Graph.Node)
		n.Name, n.OpType = t.Name+"_dequantize", "DequantizeLinear"
		n.Input, n.Output = []string{qName, sName}, []string{t.Name}
		axis := newElem(n.Attribute)
		axis.Name, axis.Type, axis.I = "axis", 2, int64(l.Layout.Out.Begin) // 2: AttributeProto.INT
		n.Attribute = append(n.Attribute, axis)
		nodes = append(nodes, n)
	}
	c.Graph.Initializer = inits
	c.Graph.Node = append(nodes, c.Graph.Node...) // initializers first: the graph stays in topological order
	data, err := proto.Marshal(c)
	if err != nil {
		return 0, fmt.Errorf("onnxmodel: writing %s: %w", path, err)
	}
	diff, err := m.verifyQuantized(backend, data, deq, example)
	if err != nil {
		return 0, fmt.Errorf("onnxmodel: writing %s: %w", path, err)
	}
	return diff, atomicfile.WriteFile(path, data)
}

// newElem returns a new element for a slice of pointers to a (possibly unexported) message type.
func newElem[E any](_ []*E) *E { return new(E) }

// verifyQuantized imports the INT8 file and compares it with the model on the dequantized weights,
// on a random batch of two examples.
func (m *Model) verifyQuantized(backend backends.Backend, data []byte, deq *context.Context, example []int) (float64, error) {
	nm, err := Parse(data, "")
	if err != nil {
		return 0, err
	}
	qctx := context.New()
	if err := nm.LoadVariables(qctx); err != nil {
		return 0, err
	}
	dims := append([]int{2}, example...)
	x := make([]float32, prod(dims))
	rng := rand.New(rand.NewPCG(11, 0xc0))
	for i := range x {
		x[i] = rng.Float32()
	}
	run := func(model *Model, ctx *context.Context) (y []float32, err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("%v", r)
			}
		}()
		exec := context.MustNewExec(backend, ctx.Reuse(), model.Build)
		out := exec.MustExec(tensors.FromFlatDataAndDimensions(slices.Clone(x), dims...))[0]
		return tensors.MustCopyFlatData[float32](out), nil
	}
	want, err := run(m, deq)
	if err != nil {
		return 0, fmt.Errorf("running the dequantized model: %w", err)
	}
	got, err := run(nm, qctx)
	if err != nil {
		return 0, fmt.Errorf("the INT8 graph does not run: %w", err)
	}
	var diff, scale float64
	for i := range want {
		diff = math.Max(diff, math.Abs(float64(want[i]-got[i])))
		scale = math.Max(scale, math.Abs(float64(want[i])))
	}
	if diff > 1e-4*(1+scale) || math.IsNaN(diff) {
		return 0, fmt.Errorf("the INT8 graph differs from the dequantized model by %.3g (outputs up to %.3g)", diff, scale)
	}
	return diff, nil
}
