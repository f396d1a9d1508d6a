package gomlxfix

import (
	"fmt"
	"reflect"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/graph"
)

// nodeInputs reads the parameters GoMLX stores in the unexported field graph.Node.inputs, a pointer
// to a generated struct named "nodeInputs<NodeType>" (e.g. *graph.nodeInputsSlice) whose fields
// hold the operands and the arguments the node was built with. GoMLX v0.26.0 offers no accessor for
// them; reading unexported ints with package reflect needs no unsafe. Every read that does not find
// the layout it expects panics with [ErrGoMLXChanged], naming the node and the field, rather than
// letting a workaround compute a wrong gradient.
type nodeInputs struct {
	node     *graph.Node
	typeName string
	params   reflect.Value // the struct nodeInputs<NodeType>
}

// inputsOf returns the parameters of node, which must be of the given type and stored in a struct
// named typeName.
func inputsOf(node *graph.Node, nodeType graph.NodeType, typeName string) nodeInputs {
	in := nodeInputs{node: node, typeName: typeName}
	if node.Type() != nodeType {
		in.fail("node type is %s, want %s", node.Type(), nodeType)
	}
	field := reflect.ValueOf(node).Elem().FieldByName("inputs")
	if !field.IsValid() || field.Kind() != reflect.Interface || field.IsNil() {
		in.fail("graph.Node has no non-nil interface field \"inputs\"")
	}
	params := field.Elem()
	if params.Kind() != reflect.Pointer || params.IsNil() || params.Type().Elem().Name() != typeName {
		in.fail("node.inputs is a %s, want *graph.%s", params.Type(), typeName)
	}
	in.params = params.Elem()
	return in
}

// fail panics with an error wrapping ErrGoMLXChanged.
func (in nodeInputs) fail(format string, args ...any) {
	panic(fmt.Errorf("%w: reading the parameters of %s node %s (graph.%s): %s; update gomlxfix for the GoMLX "+
		"version in go.mod, or drop the workaround if GoMLX fixed the gradient it replaces",
		ErrGoMLXChanged, in.node.Type(), in.node, in.typeName, fmt.Sprintf(format, args...)))
}

func (in nodeInputs) field(name string, kind reflect.Kind) reflect.Value {
	f := in.params.FieldByName(name)
	if !f.IsValid() || f.Kind() != kind {
		in.fail("no %s field %q", kind, name)
	}
	return f
}

// operand checks that field name holds the node's i-th input.
func (in nodeInputs) operand(name string, i int) {
	f := in.field(name, reflect.Pointer)
	inputs := in.node.Inputs()
	if i >= len(inputs) || f.Pointer() != reflect.ValueOf(inputs[i]).Pointer() {
		in.fail("field %q is not the node's input #%d", name, i)
	}
}

// int reads an integer field (int or a named integer type such as backends.ReduceOpType).
func (in nodeInputs) int(name string) int {
	f := in.params.FieldByName(name)
	if !f.IsValid() || !f.CanInt() {
		in.fail("no integer field %q", name)
	}
	return int(f.Int())
}

// ints reads a []int field; nil stays nil.
func (in nodeInputs) ints(name string) []int {
	return in.intsOf(in.field(name, reflect.Slice), name)
}

func (in nodeInputs) intsOf(f reflect.Value, name string) []int {
	if f.Kind() != reflect.Slice || f.Type().Elem().Kind() != reflect.Int {
		in.fail("field %q is a %s, want []int", name, f.Type())
	}
	if f.IsNil() {
		return nil
	}
	s := make([]int, f.Len())
	for i := range s {
		s[i] = int(f.Index(i).Int())
	}
	return s
}

// pairs reads a [][2]int field; nil stays nil.
func (in nodeInputs) pairs(name string) [][2]int {
	f := in.field(name, reflect.Slice)
	if f.Type().Elem().Kind() != reflect.Array || f.Type().Elem().Len() != 2 || f.Type().Elem().Elem().Kind() != reflect.Int {
		in.fail("field %q is a %s, want [][2]int", name, f.Type())
	}
	if f.IsNil() {
		return nil
	}
	s := make([][2]int, f.Len())
	for i := range s {
		s[i] = [2]int{int(f.Index(i).Index(0).Int()), int(f.Index(i).Index(1).Int())}
	}
	return s
}

// convAxes reads a backends.ConvolveAxesConfig field.
func (in nodeInputs) convAxes(name string) backends.ConvolveAxesConfig {
	f := in.field(name, reflect.Struct)
	if f.Type() != reflect.TypeFor[backends.ConvolveAxesConfig]() {
		in.fail("field %q is a %s, want backends.ConvolveAxesConfig", name, f.Type())
	}
	// The struct's own fields are exported, but the struct was reached through an unexported
	// field, so it cannot be copied with Interface: read it field by field.
	intOf := func(n string) int { return int(f.FieldByName(n).Int()) }
	intsOf := func(n string) []int { return in.intsOf(f.FieldByName(n), name+"."+n) }
	return backends.ConvolveAxesConfig{
		InputBatch:           intOf("InputBatch"),
		InputChannels:        intOf("InputChannels"),
		InputSpatial:         intsOf("InputSpatial"),
		KernelInputChannels:  intOf("KernelInputChannels"),
		KernelOutputChannels: intOf("KernelOutputChannels"),
		KernelSpatial:        intsOf("KernelSpatial"),
		OutputBatch:          intOf("OutputBatch"),
		OutputChannels:       intOf("OutputChannels"),
		OutputSpatial:        intsOf("OutputSpatial"),
	}
}

// backendHas reports whether the backend of node's graph implements every op in ops.
func backendHas(node *graph.Node, ops ...backends.OpType) bool {
	caps := node.Graph().Backend().Capabilities()
	for _, op := range ops {
		if !caps.Operations[op] {
			return false
		}
	}
	return true
}
