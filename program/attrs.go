package program

import (
	"fmt"
	"reflect"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/graph"
)

// nodeArgs reads the arguments GoMLX stores in the unexported field graph.Node.inputs: a pointer to
// a generated struct "nodeInputs<NodeType>" whose fields hold the operands and the arguments the
// node was built with. GoMLX v0.26.0 has no accessor for them; package reflect reads unexported
// integers without unsafe. A layout other than the expected one is recorded as an error wrapping
// ErrGoMLXChanged (the first one is kept), never guessed.
type nodeArgs struct {
	node   *graph.Node
	params reflect.Value
	err    error
}

func argsOf(node *graph.Node) *nodeArgs {
	a := &nodeArgs{node: node}
	field := reflect.ValueOf(node).Elem().FieldByName("inputs")
	if !field.IsValid() || field.Kind() != reflect.Interface || field.IsNil() {
		a.fail("graph.Node has no non-nil interface field \"inputs\"")
		return a
	}
	params := field.Elem()
	want := "nodeInputs" + node.Type().String()
	if params.Kind() != reflect.Pointer || params.IsNil() || params.Type().Elem().Name() != want {
		a.fail("node.inputs is a %s, want *graph.%s", params.Type(), want)
		return a
	}
	a.params = params.Elem()
	return a
}

func (a *nodeArgs) fail(format string, args ...any) {
	if a.err == nil {
		a.err = fmt.Errorf("%w: reading the arguments of %s node: %s", ErrGoMLXChanged, a.node.Type(),
			fmt.Sprintf(format, args...))
	}
}

func (a *nodeArgs) field(name string, kind reflect.Kind) (reflect.Value, bool) {
	if a.err != nil {
		return reflect.Value{}, false
	}
	f := a.params.FieldByName(name)
	if !f.IsValid() || f.Kind() != kind {
		a.fail("no %s field %q", kind, name)
		return reflect.Value{}, false
	}
	return f, true
}

// int reads an integer field (int or a named integer type such as backends.ReduceOpType).
func (a *nodeArgs) int(name string) int {
	if a.err != nil {
		return 0
	}
	f := a.params.FieldByName(name)
	if !f.IsValid() || !f.CanInt() {
		a.fail("no integer field %q", name)
		return 0
	}
	return int(f.Int())
}

// float reads a float field.
func (a *nodeArgs) float(name string) float64 {
	if a.err != nil {
		return 0
	}
	f := a.params.FieldByName(name)
	if !f.IsValid() || !f.CanFloat() {
		a.fail("no float field %q", name)
		return 0
	}
	return f.Float()
}

// ints reads a []int field; nil stays nil.
func (a *nodeArgs) ints(name string) []int {
	f, ok := a.field(name, reflect.Slice)
	if !ok {
		return nil
	}
	return a.intsOf(f, name)
}

func (a *nodeArgs) intsOf(f reflect.Value, name string) []int {
	if f.Kind() != reflect.Slice || f.Type().Elem().Kind() != reflect.Int {
		a.fail("field %q is a %s, want []int", name, f.Type())
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

// pairs reads a [][2]int field; nil stays nil.
func (a *nodeArgs) pairs(name string) [][2]int {
	f, ok := a.field(name, reflect.Slice)
	if !ok {
		return nil
	}
	et := f.Type().Elem()
	if et.Kind() != reflect.Array || et.Len() != 2 || et.Elem().Kind() != reflect.Int {
		a.fail("field %q is a %s, want [][2]int", name, f.Type())
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

// convAxes reads a backends.ConvolveAxesConfig field field by field (it was reached through an
// unexported field, so it cannot be copied with Interface).
func (a *nodeArgs) convAxes(name string) backends.ConvolveAxesConfig {
	f, ok := a.field(name, reflect.Struct)
	if !ok {
		return backends.ConvolveAxesConfig{}
	}
	if f.Type() != reflect.TypeFor[backends.ConvolveAxesConfig]() {
		a.fail("field %q is a %s, want backends.ConvolveAxesConfig", name, f.Type())
		return backends.ConvolveAxesConfig{}
	}
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

// operand checks that field name holds the node's i-th input.
func (a *nodeArgs) operand(name string, i int) {
	f, ok := a.field(name, reflect.Pointer)
	if !ok {
		return
	}
	inputs := a.node.Inputs()
	if i >= len(inputs) || f.Pointer() != reflect.ValueOf(inputs[i]).Pointer() {
		a.fail("field %q is not the node's input #%d", name, i)
	}
}
