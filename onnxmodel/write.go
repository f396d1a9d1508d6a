package onnxmodel

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/onnx-gomlx/onnx"
	"google.golang.org/protobuf/proto"

	"github.com/prunelab/prunelab/compact"
	"github.com/prunelab/prunelab/internal/atomicfile"
	"github.com/prunelab/prunelab/program"
)

// clone returns a deep copy of a protobuf message of any (even unexported) type.
func clone[T proto.Message](m T) T { return proto.Clone(m).(T) }

// Write writes the model to path (atomically) with the values of ctx's variables in place of its
// initializers: the same graph, with a pruned model's zeros and a fine-tuned model's weights.
// Initializers that ctx does not hold keep their values. The Model itself is not changed.
func (m *Model) Write(path string, ctx *context.Context) error {
	c := clone(&m.model.Proto)
	root := ctx.InAbsPath(context.RootScope)
	for _, t := range c.Graph.Initializer {
		v := root.GetVariableByScopeAndName(splitPath(VariablePath(t.Name)))
		if v == nil {
			continue
		}
		value, err := v.Value()
		if err != nil {
			return fmt.Errorf("onnxmodel: writing %s: initializer %q: %w", path, t.Name, err)
		}
		if err := onnx.TensorValueToONNX(value, t); err != nil {
			return fmt.Errorf("onnxmodel: writing %s: initializer %q: %w", path, t.Name, err)
		}
	}
	return writeProto(path, c)
}

// writeProto marshals a model proto and writes it atomically.
func writeProto(path string, msg proto.Message) error {
	data, err := proto.Marshal(msg)
	if err != nil {
		return fmt.Errorf("onnxmodel: writing %s: %w", path, err)
	}
	return atomicfile.WriteFile(path, data)
}

// WriteCompacted writes a model compacted by package compact (res, from this model's traced
// program, see [Model.Trace]) to path: the same graph with each initializer replaced by its
// smaller compacted value, every Reshape whose constant target was written for the old widths
// (x.view(-1, 16*5*5)) rewritten for the new ones, a depthwise convolution's group set to its
// new width, and the graph's intermediate shape annotations (value_info) dropped, since they
// describe the old widths. The file is then imported again and run on a random batch
// beside res.Program on backend; a graph that does not compute the compacted model (a shape
// constant that depends on a removed width, say) is an error wrapping [ErrCompaction], and so is a
// compaction that added constants for removed channels with non-zero outputs (zero those
// channels' biases, as [Model.PruneChannels] does) or changed a grouped convolution that is not depthwise
// (a depthwise one gets its group attribute set to its new channel count).
func (m *Model) WriteCompacted(backend backends.Backend, path string, res *compact.Result) error {
	if len(res.Report.Compensations) > 0 {
		return fmt.Errorf("%w: %s: compaction added %d constants for removed channels whose outputs were not zero "+
			"(%s): prune the channels' biases with them (onnxmodel.PruneChannels does)", ErrCompaction, path,
			len(res.Report.Compensations), strings.Join(res.Report.Compensations, ", "))
	}
	c := clone(&m.model.Proto)
	changed := map[string]bool{}
	for _, t := range c.Graph.Initializer {
		vp := VariablePath(t.Name)
		v := res.Program.Variable(vp)
		values, ok := res.Values[vp]
		if v == nil || !ok {
			continue
		}
		if t.DataType != 1 {
			return fmt.Errorf("%w: %s: initializer %q is not float32", ErrCompaction, path, t.Name)
		}
		dims := make([]int64, len(v.Dims))
		same := len(dims) == len(t.Dims)
		for i, d := range v.Dims {
			dims[i] = int64(d)
			same = same && dims[i] == t.Dims[i]
		}
		if !same {
			changed[t.Name] = true
		}
		raw := make([]byte, 4*len(values))
		for i, x := range values {
			binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(x))
		}
		t.Dims, t.RawData, t.FloatData = dims, raw, nil
	}
	// A depthwise convolution that lost channels has one group per remaining channel.
	newDims := map[string][]int64{}
	for _, t := range c.Graph.Initializer {
		newDims[t.Name] = t.Dims
	}
	for _, node := range c.Graph.Node {
		if node.OpType != "Conv" || len(node.Input) < 2 || !changed[node.Input[1]] {
			continue
		}
		for _, a := range node.Attribute {
			if a.Name != "group" || a.I <= 1 {
				continue
			}
			if w := newDims[node.Input[1]]; len(w) < 2 || w[1] != 1 {
				return fmt.Errorf("%w: %s: node %s: a grouped convolution (group %d) that is not depthwise changed width",
					ErrCompaction, path, node.Name, a.I)
			} else {
				a.I = w[0]
			}
		}
	}
	c.Graph.ValueInfo = nil
	rg := &reshapeGraph{
		nodes: func() []nodeView {
			out := make([]nodeView, len(c.Graph.Node))
			for i, n := range c.Graph.Node {
				out[i] = nodeView{Name: n.Name, OpType: n.OpType, Input: n.Input, Output: n.Output}
			}
			return out
		},
		constant: func(name string) *int64Tensor {
			for _, t := range c.Graph.Initializer {
				if t.Name == name && t.DataType == onnxInt64 {
					return &int64Tensor{values: int64Values(t.RawData, t.Int64Data), set: func(v []int) {
						t.RawData, t.Int64Data, t.Dims = int64Raw(v), nil, []int64{int64(len(v))}
					}}
				}
			}
			for _, n := range c.Graph.Node {
				if n.OpType != "Constant" || len(n.Output) != 1 || n.Output[0] != name {
					continue
				}
				for _, a := range n.Attribute {
					if t := a.T; a.Name == "value" && t != nil && t.DataType == onnxInt64 {
						return &int64Tensor{values: int64Values(t.RawData, t.Int64Data), set: func(v []int) {
							t.RawData, t.Int64Data, t.Dims = int64Raw(v), nil, []int64{int64(len(v))}
						}}
					}
				}
			}
			return nil
		},
		marshal: func() ([]byte, error) { return proto.Marshal(c) },
		setInput: func(node, input int, values []int) {
			n := c.Graph.Node[node]
			t := newElem(c.Graph.Initializer)
			t.Name, t.DataType, t.Dims, t.RawData = n.Name+"_prunelab_shape", onnxInt64, []int64{int64(len(values))}, int64Raw(values)
			c.Graph.Initializer = append(c.Graph.Initializer, t)
			n.Input[input] = t.Name
		},
	}
	in := res.Program.Ops[res.Program.Input()]
	if err := m.fixReshapes(rg, backend, program.Resolve(in.Dims, 1)[1:]); err != nil {
		return fmt.Errorf("onnxmodel: %s: %w", path, err)
	}
	data, err := proto.Marshal(c)
	if err != nil {
		return fmt.Errorf("onnxmodel: writing %s: %w", path, err)
	}
	if err := m.verifyCompacted(backend, data, res); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrCompaction, path, err)
	}
	return atomicfile.WriteFile(path, data)
}

// verifyCompacted imports the rewritten model and checks that it computes res.Program.
func (m *Model) verifyCompacted(backend backends.Backend, data []byte, res *compact.Result) error {
	nm, err := Parse(data, "")
	if err != nil {
		return err
	}
	in := res.Program.Ops[res.Program.Input()]
	ctx := context.New()
	p, err := nm.Trace(backend, ctx, program.Resolve(in.Dims, 1)[1:])
	if err != nil {
		return fmt.Errorf("the rewritten graph does not convert: %w", err)
	}
	values, err := p.Values(ctx)
	if err != nil {
		return err
	}
	diff, scale, err := compact.Compare(backend, res.Program, res.Values, p, values, 2, 7)
	if err != nil {
		return fmt.Errorf("the rewritten graph does not run: %w", err)
	}
	if diff > 1e-4*(1+scale) {
		return fmt.Errorf("the rewritten graph differs from the compacted model by %.3g (outputs up to %.3g)", diff, scale)
	}
	return nil
}
