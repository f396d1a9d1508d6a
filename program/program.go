package program

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
)

// Version is the version of the Program format written by this package.
const Version = 1

// Sentinel errors, wrapped with the operation or field at fault.
var (
	// ErrUnsupportedOp: the graph uses an operation this package cannot replay.
	ErrUnsupportedOp = errors.New("program: unsupported operation")
	// ErrGoMLXChanged: a GoMLX node does not store its arguments the way GoMLX v0.26.0 does.
	ErrGoMLXChanged = errors.New("program: GoMLX node layout changed")
	// ErrInvalid: a Program is malformed (bad operand index, shape, attribute or version).
	ErrInvalid = errors.New("program: invalid program")
)

// Op types besides GoMLX's node types (graph.NodeType names such as "DotGeneral" or "Add").
const (
	// OpInput is the model input; a Program has exactly one.
	OpInput = "Input"
	// OpVariable reads the context variable named by Op.Var.
	OpVariable = "Variable"
)

// Dim is a dimension or a slice bound: a value >= 0 is itself, a value −k < 0 means k times the
// batch size.
type Dim = int

// Resolve returns the dimensions with batch multiples replaced for the given batch size.
func Resolve(dims []Dim, batch int) []int {
	out := make([]int, len(dims))
	for i, d := range dims {
		if d < 0 {
			out[i] = -d * batch
		} else {
			out[i] = d
		}
	}
	return out
}

// Op is one operation of a Program. Inputs index earlier operations. Only the attributes of its
// type are set.
type Op struct {
	// Type is the GoMLX node type ("Add", "DotGeneral", "Slice", ...), [OpInput] or [OpVariable].
	Type string `json:"type"`
	// Inputs are the indices of the operands in Program.Ops, in GoMLX's operand order.
	Inputs []int `json:"inputs,omitempty"`
	// DType and Dims are the output's shape; dims may be batch multiples ([Dim]).
	DType dtypes.DType `json:"dtype"`
	Dims  []Dim        `json:"dims"`

	// Var is the variable path ("/fc0/dense/weights") of a Variable op.
	Var string `json:"var,omitempty"`
	// Axes: reduced axes (Reduce*), the permutation (Transpose), reversed axes (Reverse), the
	// output axes of the operand's axes (BroadcastInDim).
	Axes []int `json:"axes,omitempty"`
	// Axis: Concatenate's axis, Iota's axis, BatchNormForInference's feature axis.
	Axis int `json:"axis,omitempty"`
	// Starts, Limits and Strides of a Slice, per axis; limits may be batch multiples.
	Starts  []Dim `json:"starts,omitempty"`
	Limits  []Dim `json:"limits,omitempty"`
	Strides []int `json:"strides,omitempty"`
	// Contracting and batch axes of a DotGeneral: [lhs, rhs].
	Contracting [2][]int `json:"contracting,omitzero"`
	Batch       [2][]int `json:"batch,omitzero"`
	// Conv is the configuration of a ConvGeneral.
	Conv *ConvAttrs `json:"conv,omitempty"`
	// Window is the configuration of a ReduceWindow.
	Window *WindowAttrs `json:"window,omitempty"`
	// Epsilon of a BatchNormForInference.
	Epsilon float64 `json:"epsilon,omitempty"`
	// Value holds a Constant's values in row-major order (booleans as 0 and 1).
	Value []float64 `json:"value,omitempty"`
}

// ConvAttrs are the arguments of a ConvGeneral (see graph.ConvGeneral).
type ConvAttrs struct {
	InputBatch, InputChannels                 int
	InputSpatial                              []int
	KernelInputChannels, KernelOutputChannels int
	KernelSpatial                             []int
	OutputBatch, OutputChannels               int
	OutputSpatial                             []int
	Strides                                   []int
	Paddings                                  [][2]int
	InputDilations, KernelDilations           []int
	ChannelGroupCount, BatchGroupCount        int
}

// WindowAttrs are the arguments of a ReduceWindow (see graph.BackendReduceWindow).
type WindowAttrs struct {
	Reduction                      int // backends.ReduceOpType
	Dimensions, Strides            []int
	BaseDilations, WindowDilations []int
	Paddings                       [][2]int
}

// Variable is a context variable read by a Program.
type Variable struct {
	Path  string       `json:"path"`
	DType dtypes.DType `json:"dtype"`
	Dims  []int        `json:"dims"`
}

// Program is a traced model: operations in an order where operands come first, the variables
// they read, and which operation is the output (the logits).
type Program struct {
	Version   int        `json:"version"`
	Variables []Variable `json:"variables"`
	Ops       []Op       `json:"ops"`
	Output    int        `json:"output"`
}

// Clone returns a deep copy.
func (p *Program) Clone() *Program {
	c := &Program{Version: p.Version, Output: p.Output, Variables: make([]Variable, len(p.Variables)),
		Ops: make([]Op, len(p.Ops))}
	for i, v := range p.Variables {
		v.Dims = slices.Clone(v.Dims)
		c.Variables[i] = v
	}
	for i, op := range p.Ops {
		c.Ops[i] = op.clone()
	}
	return c
}

// Clone returns a deep copy of the op.
func (op Op) Clone() Op { return op.clone() }

func (op Op) clone() Op {
	op.Inputs = slices.Clone(op.Inputs)
	op.Dims = slices.Clone(op.Dims)
	op.Axes = slices.Clone(op.Axes)
	op.Starts = slices.Clone(op.Starts)
	op.Limits = slices.Clone(op.Limits)
	op.Strides = slices.Clone(op.Strides)
	op.Contracting = [2][]int{slices.Clone(op.Contracting[0]), slices.Clone(op.Contracting[1])}
	op.Batch = [2][]int{slices.Clone(op.Batch[0]), slices.Clone(op.Batch[1])}
	op.Value = slices.Clone(op.Value)
	if op.Conv != nil {
		c := *op.Conv
		c.InputSpatial, c.KernelSpatial, c.OutputSpatial = slices.Clone(c.InputSpatial), slices.Clone(c.KernelSpatial), slices.Clone(c.OutputSpatial)
		c.Strides, c.Paddings = slices.Clone(c.Strides), slices.Clone(c.Paddings)
		c.InputDilations, c.KernelDilations = slices.Clone(c.InputDilations), slices.Clone(c.KernelDilations)
		op.Conv = &c
	}
	if op.Window != nil {
		w := *op.Window
		w.Dimensions, w.Strides = slices.Clone(w.Dimensions), slices.Clone(w.Strides)
		w.BaseDilations, w.WindowDilations, w.Paddings = slices.Clone(w.BaseDilations), slices.Clone(w.WindowDilations), slices.Clone(w.Paddings)
		op.Window = &w
	}
	return op
}

// Input returns the index of the Input op (-1 if there is none).
func (p *Program) Input() int {
	for i, op := range p.Ops {
		if op.Type == OpInput {
			return i
		}
	}
	return -1
}

// InputDims returns the input's dimensions for one example (without the batch axis).
func (p *Program) InputDims() []int {
	i := p.Input()
	if i < 0 || len(p.Ops[i].Dims) == 0 {
		return nil
	}
	return slices.Clone(p.Ops[i].Dims[1:])
}

// Variable returns the variable with the given path, or nil.
func (p *Program) Variable(path string) *Variable {
	for i := range p.Variables {
		if p.Variables[i].Path == path {
			return &p.Variables[i]
		}
	}
	return nil
}

// Consumers returns, for every op, the indices of the ops that use it as an operand.
func (p *Program) Consumers() [][]int {
	c := make([][]int, len(p.Ops))
	for i, op := range p.Ops {
		for _, in := range op.Inputs {
			if in >= 0 && in < len(c) && !slices.Contains(c[in], i) {
				c[in] = append(c[in], i)
			}
		}
	}
	return c
}

// Validate checks the structure of p: version, operand indices (earlier ops only), one input with
// a batch axis, variables declared once with the shapes their ops have, the output in range, and
// the attributes each op type needs. It does not check that shapes agree between operands: that
// is [Program.Build]'s job, which GoMLX's shape inference does exactly.
func (p *Program) Validate() error {
	if p == nil {
		return fmt.Errorf("%w: nil program", ErrInvalid)
	}
	if p.Version != Version {
		return fmt.Errorf("%w: version %d, this package reads version %d", ErrInvalid, p.Version, Version)
	}
	if len(p.Ops) == 0 || p.Output < 0 || p.Output >= len(p.Ops) {
		return fmt.Errorf("%w: %d ops, output %d", ErrInvalid, len(p.Ops), p.Output)
	}
	vars := make(map[string]Variable, len(p.Variables))
	for _, v := range p.Variables {
		if _, dup := vars[v.Path]; dup || v.Path == "" {
			return fmt.Errorf("%w: variable %q declared twice or empty", ErrInvalid, v.Path)
		}
		if len(v.Dims) > maxRank || !sizeOK(v.Dims) || slices.ContainsFunc(v.Dims, func(d int) bool { return d < 0 }) {
			return fmt.Errorf("%w: variable %s has dims %v", ErrInvalid, v.Path, v.Dims)
		}
		vars[v.Path] = v
	}
	inputs := 0
	for i, op := range p.Ops {
		for _, in := range op.Inputs {
			if in < 0 || in >= i {
				return fmt.Errorf("%w: op #%d (%s) has operand #%d", ErrInvalid, i, op.Type, in)
			}
		}
		if len(op.Dims) > maxRank {
			return fmt.Errorf("%w: op #%d (%s) has rank %d", ErrInvalid, i, op.Type, len(op.Dims))
		}
		if !sizeOK(op.Dims) {
			return fmt.Errorf("%w: op #%d (%s) has dims %v", ErrInvalid, i, op.Type, op.Dims)
		}
		spec, ok := opSpecs[op.Type]
		if !ok {
			return fmt.Errorf("%w %q (op #%d)", ErrUnsupportedOp, op.Type, i)
		}
		if spec.operands >= 0 && len(op.Inputs) != spec.operands {
			return fmt.Errorf("%w: op #%d (%s) has %d operands, want %d", ErrInvalid, i, op.Type, len(op.Inputs), spec.operands)
		}
		if spec.operands < 0 && len(op.Inputs) == 0 {
			return fmt.Errorf("%w: op #%d (%s) has no operands", ErrInvalid, i, op.Type)
		}
		switch op.Type {
		case OpInput:
			inputs++
			if len(op.Dims) == 0 || op.Dims[0] != -1 {
				return fmt.Errorf("%w: the input's first axis must be the batch (dims %v)", ErrInvalid, op.Dims)
			}
		case OpVariable:
			v, ok := vars[op.Var]
			if !ok {
				return fmt.Errorf("%w: op #%d reads undeclared variable %q", ErrInvalid, i, op.Var)
			}
			if !slices.Equal(v.Dims, op.Dims) || v.DType != op.DType {
				return fmt.Errorf("%w: op #%d reads %s as %s%v, declared %s%v", ErrInvalid, i, op.Var, op.DType, op.Dims, v.DType, v.Dims)
			}
		case "Slice":
			r := len(p.Ops[op.Inputs[0]].Dims)
			if len(op.Starts) != r || len(op.Limits) != r || len(op.Strides) != r {
				return fmt.Errorf("%w: op #%d: Slice of rank %d with starts %v limits %v strides %v", ErrInvalid, i, r,
					op.Starts, op.Limits, op.Strides)
			}
		case "ConvGeneral":
			if op.Conv == nil {
				return fmt.Errorf("%w: op #%d: ConvGeneral without its configuration", ErrInvalid, i)
			}
		case "ReduceWindow":
			if op.Window == nil {
				return fmt.Errorf("%w: op #%d: ReduceWindow without its configuration", ErrInvalid, i)
			}
		case "Constant":
			n := 1
			for _, d := range op.Dims {
				if d < 0 {
					return fmt.Errorf("%w: op #%d: a constant cannot depend on the batch size", ErrInvalid, i)
				}
				n *= d
			}
			if n != len(op.Value) {
				return fmt.Errorf("%w: op #%d: constant of shape %v has %d values", ErrInvalid, i, op.Dims, len(op.Value))
			}
		}
	}
	if inputs != 1 {
		return fmt.Errorf("%w: %d Input ops, want 1", ErrInvalid, inputs)
	}
	return nil
}

// maxRank bounds the rank of any op's output, and MaxElements the number of elements per example
// (batch multiples count once), against absurd decoded programs.
const (
	maxRank     = 16
	MaxElements = 1 << 34
)

// sizeOK reports whether the product of the dims (batch multiples −k counted as k) is at most
// MaxElements, without overflowing.
func sizeOK(dims []int) bool {
	n := 1
	for _, d := range dims {
		if d < 0 {
			d = -d
		}
		if d > MaxElements || (d > 0 && n > MaxElements/d) {
			return false
		}
		n *= d
	}
	return true
}

// Encode writes p as JSON.
func (p *Program) Encode(w io.Writer) error {
	enc := json.NewEncoder(w)
	return enc.Encode(p)
}

// Decode reads a Program written by [Program.Encode] and validates it.
func Decode(r io.Reader) (*Program, error) {
	var p Program
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &p, nil
}

// NumParams returns the number of elements of all variables.
func (p *Program) NumParams() int {
	n := 0
	for _, v := range p.Variables {
		s := 1
		for _, d := range v.Dims {
			s *= d
		}
		n += s
	}
	return n
}
