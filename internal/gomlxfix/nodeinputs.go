package gomlxfix

import (
	"fmt"
	"reflect"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/graph"
)

// NodeArgs reads the arguments a GoMLX graph node was built with. GoMLX [GoMLXVersion] keeps them
// in the unexported field graph.Node.inputs, a pointer to a generated struct named
// "nodeInputs<NodeType>" (e.g. *graph.nodeInputsSlice) whose fields hold the operands and the
// arguments, and offers no accessor for them; package reflect reads unexported integers without
// unsafe. It is the one place that knows this layout: the gradient workarounds of this package and
// package program (which traces graphs into replayable programs) both read nodes through it.
//
// A NodeArgs never guesses. The first read that does not find the layout it expects records an
// error wrapping [ErrGoMLXChanged] that names the node type, the struct and the field; later reads
// return zero values and [NodeArgs.Err] reports that first error. Create one with [ArgsOf].
type NodeArgs struct {
	node     *graph.Node
	typeName string        // the expected name of the struct, "nodeInputs<NodeType>"
	params   reflect.Value // that struct, once found
	err      error
}

// ArgsOf returns a reader of the arguments of node, which it expects in a *graph.nodeInputs<T>
// where T is node.Type(). If node.inputs is not laid out that way, the error is recorded: see
// [NodeArgs].
func ArgsOf(node *graph.Node) *NodeArgs {
	a := &NodeArgs{node: node, typeName: "nodeInputs" + node.Type().String()}
	field := reflect.ValueOf(node).Elem().FieldByName("inputs")
	if !field.IsValid() || field.Kind() != reflect.Interface || field.IsNil() {
		a.Failf("graph.Node has no non-nil interface field \"inputs\"")
		return a
	}
	params := field.Elem()
	if params.Kind() != reflect.Pointer || params.IsNil() || params.Type().Elem().Name() != a.typeName {
		a.Failf("node.inputs is a %s, want *graph.%s", params.Type(), a.typeName)
		return a
	}
	a.params = params.Elem()
	return a
}

// argsOfType is [ArgsOf] for a node that must be of type want: another type is recorded as the
// first error.
func argsOfType(node *graph.Node, want graph.NodeType) *NodeArgs {
	if node.Type() != want {
		a := &NodeArgs{node: node, typeName: "nodeInputs" + want.String()}
		a.Failf("node type is %s, want %s", node.Type(), want)
		return a
	}
	return ArgsOf(node)
}

// Err returns the first error recorded by a read or by [NodeArgs.Failf], or nil. It wraps
// [ErrGoMLXChanged].
func (a *NodeArgs) Err() error { return a.err }

// Failf records an error wrapping [ErrGoMLXChanged], unless one is recorded already. Callers use it
// for checks of their own on the values read (e.g. that slice bounds match the operand's rank).
func (a *NodeArgs) Failf(format string, args ...any) {
	if a.err == nil {
		a.err = fmt.Errorf("%w: reading the arguments of %s node (graph.%s): %s", ErrGoMLXChanged,
			a.node.Type(), a.typeName, fmt.Sprintf(format, args...))
	}
}

// must panics with the first error recorded by a, if any, adding the node and what to do about it:
// the graph-building code of this package's workarounds reads nodes this way, and panics as GoMLX
// graph code does rather than computing a wrong gradient.
func (a *NodeArgs) must() {
	if a.err != nil {
		panic(fmt.Errorf("%w (node %s); update gomlxfix for the GoMLX version in go.mod, or drop the "+
			"workaround if GoMLX fixed the gradient it replaces", a.err, a.node))
	}
}

// field returns the field name if it has the given kind; ok is false once an error is recorded.
func (a *NodeArgs) field(name string, kind reflect.Kind) (f reflect.Value, ok bool) {
	if a.err != nil {
		return reflect.Value{}, false
	}
	f = a.params.FieldByName(name)
	if !f.IsValid() || f.Kind() != kind {
		a.Failf("no %s field %q", kind, name)
		return reflect.Value{}, false
	}
	return f, true
}

// Operand checks that the field name holds the node's i-th input.
func (a *NodeArgs) Operand(name string, i int) {
	f, ok := a.field(name, reflect.Pointer)
	if !ok {
		return
	}
	inputs := a.node.Inputs()
	if i < 0 || i >= len(inputs) || f.Pointer() != reflect.ValueOf(inputs[i]).Pointer() {
		a.Failf("field %q is not the node's input #%d", name, i)
	}
}

// Int reads an integer field (an int or a named integer type such as backends.ReduceOpType).
func (a *NodeArgs) Int(name string) int {
	if a.err != nil {
		return 0
	}
	f := a.params.FieldByName(name)
	if !f.IsValid() || !f.CanInt() {
		a.Failf("no integer field %q", name)
		return 0
	}
	return int(f.Int())
}

// Float reads a floating-point field.
func (a *NodeArgs) Float(name string) float64 {
	if a.err != nil {
		return 0
	}
	f := a.params.FieldByName(name)
	if !f.IsValid() || !f.CanFloat() {
		a.Failf("no float field %q", name)
		return 0
	}
	return f.Float()
}

// Ints reads a []int field; nil stays nil.
func (a *NodeArgs) Ints(name string) []int {
	f, ok := a.field(name, reflect.Slice)
	if !ok {
		return nil
	}
	return a.intsOf(f, name)
}

// intsOf converts f, the value of the field name, to a []int; nil stays nil.
func (a *NodeArgs) intsOf(f reflect.Value, name string) []int {
	if f.Kind() != reflect.Slice || f.Type().Elem().Kind() != reflect.Int {
		a.Failf("field %q is a %s, want []int", name, f.Type())
		return nil
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

// Pairs reads a [][2]int field; nil stays nil.
func (a *NodeArgs) Pairs(name string) [][2]int {
	f, ok := a.field(name, reflect.Slice)
	if !ok {
		return nil
	}
	et := f.Type().Elem()
	if et.Kind() != reflect.Array || et.Len() != 2 || et.Elem().Kind() != reflect.Int {
		a.Failf("field %q is a %s, want [][2]int", name, f.Type())
		return nil
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

// ConvAxes reads a backends.ConvolveAxesConfig field.
func (a *NodeArgs) ConvAxes(name string) backends.ConvolveAxesConfig {
	f, ok := a.field(name, reflect.Struct)
	if !ok {
		return backends.ConvolveAxesConfig{}
	}
	if f.Type() != reflect.TypeFor[backends.ConvolveAxesConfig]() {
		a.Failf("field %q is a %s, want backends.ConvolveAxesConfig", name, f.Type())
		return backends.ConvolveAxesConfig{}
	}
	// The struct's own fields are exported, but the struct was reached through an unexported
	// field, so it cannot be copied with Interface: read it field by field.
	intOf := func(n string) int { return int(f.FieldByName(n).Int()) }
	intsOf := func(n string) []int { return a.intsOf(f.FieldByName(n), name+"."+n) }
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
