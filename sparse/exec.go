package sparse

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"

	"github.com/gomlx/gomlx/pkg/core/dtypes"

	"github.com/prunelab/prunelab/program"
)

// ErrUnsupported is wrapped by [Compile] when a program holds an operation (or an operation
// configuration) the Go executor does not implement; run such a model with GoMLX instead.
var ErrUnsupported = errors.New("sparse: unsupported operation")

// Kernel selects how a multiplication by a weight matrix runs.
type Kernel int

const (
	// KernelAuto uses [KernelCSR] for weights whose density is at most Options.MaxDensity, and
	// [KernelDense] otherwise.
	KernelAuto Kernel = iota
	// KernelDense multiplies by the dense matrix (skipping zero inputs).
	KernelDense
	// KernelCSR multiplies by the CSR form of the matrix, skipping zero weights and zero inputs.
	KernelCSR
)

// String returns "auto", "dense" or "csr".
func (k Kernel) String() string {
	switch k {
	case KernelDense:
		return "dense"
	case KernelCSR:
		return "csr"
	default:
		return "auto"
	}
}

// DefaultMaxDensity is the density up to which [KernelAuto] picks CSR. Measured on this project's
// 2-core machine (BenchmarkKernels): CSR beats the dense Go loop below about 40% density for
// LeNet-300-100's layers at batch 1 and 256; 0.3 leaves a margin.
const DefaultMaxDensity = 0.3

// Options configure [Compile]. The zero value picks kernels automatically.
type Options struct {
	// Kernel is the kernel for weight multiplications (default [KernelAuto]).
	Kernel Kernel
	// MaxDensity is the largest weight density for which KernelAuto uses CSR (default
	// [DefaultMaxDensity]).
	MaxDensity float64
}

// LayerInfo describes one weight multiplication of a compiled model.
type LayerInfo struct {
	// Op is the index of the Dot/DotGeneral op in the program; Weight the path of its weight.
	Op     int    `json:"op"`
	Weight string `json:"weight"`
	// Rows and Cols are the weight matrix's shape ([in, out]).
	Rows    int     `json:"rows"`
	Cols    int     `json:"cols"`
	Density float64 `json:"density"`
	Kernel  string  `json:"kernel"`
}

// Model executes a [program.Program] in pure Go on float32 values, with sparse kernels for
// multiplications by weights. It supports the operations of dense (fully connected) networks and of
// the patch-based convolutions and tiled poolings of package nn: Reshape, BroadcastInDim,
// Transpose, Slice, Concatenate, Iota, elementwise functions, Where, reductions, Dot and DotGeneral
// (contracting the last axis of its left operand with the first of a matrix).
//
// A Model is safe for concurrent use: each call to Run works on buffers of its own.
type Model struct {
	prog    *program.Program
	values  map[string][]float32
	opts    Options
	static  []bool
	weights map[int]*weightMatMul // by op index

	mu    sync.Mutex
	plans map[int][]*plan // idle plans per batch size
}

// weightMatMul is a multiplication by a fixed [rows, cols] matrix.
type weightMatMul struct {
	mat   int // op holding the matrix
	info  LayerInfo
	dense []float32
	csr   *CSR
}

func (w *weightMatMul) mul(y, x []float32, batch int) {
	if w.csr != nil {
		w.csr.MatMul(y, x, batch)
		return
	}
	DenseMatMul(y, x, w.dense, batch, w.info.Rows, w.info.Cols, true)
}

// Compile prepares p for execution with the given variable values (row-major float32, keyed by
// path, e.g. from [ValuesFromContext]). Values are read, not copied: do not change them while the
// model is in use. It returns an error wrapping [ErrUnsupported] for an operation it cannot run, and
// an error for a missing or mis-sized variable.
func Compile(p *program.Program, values map[string][]float32, opts Options) (*Model, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if opts.MaxDensity == 0 {
		opts.MaxDensity = DefaultMaxDensity
	}
	m := &Model{prog: p, values: values, opts: opts, static: make([]bool, len(p.Ops)),
		weights: map[int]*weightMatMul{}, plans: map[int][]*plan{}}
	for _, v := range p.Variables {
		data, ok := values[v.Path]
		if !ok {
			return nil, fmt.Errorf("sparse: no values for variable %s", v.Path)
		}
		if len(data) != size(v.Dims) {
			return nil, fmt.Errorf("sparse: variable %s has %d values, shape %v", v.Path, len(data), v.Dims)
		}
	}
	for i, op := range p.Ops {
		if err := checkSupported(p, i); err != nil {
			return nil, err
		}
		switch op.Type {
		case program.OpInput:
		case program.OpVariable, "Constant", "Iota":
			m.static[i] = true
		default:
			m.static[i] = true
			for _, in := range op.Inputs {
				m.static[i] = m.static[i] && m.static[in]
			}
		}
	}
	// Weight multiplications: rows × a static matrix.
	for i := range p.Ops {
		if m.static[i] {
			continue
		}
		if mat, ok := matrixOperand(p, i); ok && m.static[mat] {
			d := p.Ops[mat].Dims
			k, n := d[len(d)-2], d[len(d)-1]
			m.weights[i] = &weightMatMul{mat: mat, info: LayerInfo{Op: i, Weight: weightName(p, mat), Rows: k, Cols: n}}
		}
	}
	// Static values are batch-independent: evaluate them once, then choose kernels.
	pl, err := m.newPlan(1)
	if err != nil {
		return nil, err
	}
	for _, w := range m.weights {
		w.dense = pl.t[w.mat].data
		nnz := 0
		for _, v := range w.dense {
			if v != 0 {
				nnz++
			}
		}
		if len(w.dense) > 0 {
			w.info.Density = float64(nnz) / float64(len(w.dense))
		}
		useCSR := opts.Kernel == KernelCSR || (opts.Kernel == KernelAuto && w.info.Density <= opts.MaxDensity)
		w.info.Kernel = KernelDense.String()
		if useCSR {
			if w.csr, err = NewCSR(w.info.Rows, w.info.Cols, w.dense); err != nil {
				return nil, err
			}
			w.info.Kernel = KernelCSR.String()
		}
	}
	m.put(pl)
	return m, nil
}

// weightName names the variable behind op i (through reshapes), or "op #i".
func weightName(p *program.Program, i int) string {
	for {
		op := p.Ops[i]
		switch {
		case op.Type == program.OpVariable:
			return op.Var
		case len(op.Inputs) == 1:
			i = op.Inputs[0]
		default:
			return fmt.Sprintf("op #%d", i)
		}
	}
}

// Layers describes the weight multiplications and the kernel each uses, in program order.
func (m *Model) Layers() []LayerInfo {
	var out []LayerInfo
	for _, w := range m.weights {
		out = append(out, w.info)
	}
	slices.SortFunc(out, func(a, b LayerInfo) int { return a.Op - b.Op })
	return out
}

// InputSize returns the number of values of one example.
func (m *Model) InputSize() int { return size(m.prog.InputDims()) }

// Run computes the program's output for a batch of inputs (row-major, batch×InputSize values) and
// returns a new slice with the output values (row-major, e.g. [batch, classes]).
func (m *Model) Run(x []float32, batch int) ([]float32, error) {
	if batch <= 0 || len(x) != batch*m.InputSize() {
		return nil, fmt.Errorf("sparse: Run: %d values for a batch of %d examples of %d values", len(x), batch, m.InputSize())
	}
	pl, err := m.get(batch)
	if err != nil {
		return nil, err
	}
	defer m.put(pl)
	pl.run(x)
	return slices.Clone(pl.t[m.prog.Output].data), nil
}

func (m *Model) get(batch int) (*plan, error) {
	m.mu.Lock()
	if idle := m.plans[batch]; len(idle) > 0 {
		pl := idle[len(idle)-1]
		m.plans[batch] = idle[:len(idle)-1]
		m.mu.Unlock()
		return pl, nil
	}
	m.mu.Unlock()
	return m.newPlan(batch)
}

func (m *Model) put(pl *plan) {
	m.mu.Lock()
	m.plans[pl.batch] = append(m.plans[pl.batch], pl)
	m.mu.Unlock()
}

// tensor is a float32 array with its dimensions (booleans and integers are stored as float32:
// they are masks and small indices here).
type tensor struct {
	dims []int
	data []float32
}

// plan holds the buffers of one batch size; static values are computed when it is made.
type plan struct {
	m     *Model
	batch int
	t     []tensor
	alias []bool
}

func (m *Model) newPlan(batch int) (*plan, error) {
	p := m.prog
	pl := &plan{m: m, batch: batch, t: make([]tensor, len(p.Ops)), alias: make([]bool, len(p.Ops))}
	for i := range p.Ops {
		op := &p.Ops[i]
		dims := program.Resolve(op.Dims, batch)
		pl.t[i].dims = dims
		switch op.Type {
		case program.OpVariable:
			pl.t[i].data = m.values[op.Var]
			pl.alias[i] = true
		case "Reshape", "Identity", "ConvertDType":
			pl.alias[i] = true
		default:
			pl.t[i].data = make([]float32, size(dims))
		}
	}
	// Evaluate static ops now (aliases are resolved as they come, in order).
	for i := range p.Ops {
		if pl.alias[i] && p.Ops[i].Type != program.OpVariable {
			pl.t[i].data = pl.t[p.Ops[i].Inputs[0]].data
		}
		if m.static[i] && !pl.alias[i] {
			if err := pl.eval(i); err != nil {
				return nil, err
			}
		}
	}
	return pl, nil
}

// run evaluates the ops that depend on the input.
func (pl *plan) run(x []float32) {
	p := pl.m.prog
	in := p.Input()
	copy(pl.t[in].data, x)
	for i := range p.Ops {
		if pl.m.static[i] || pl.alias[i] || i == in {
			continue
		}
		_ = pl.eval(i) // Shapes were checked by Compile; dynamic ops cannot fail.
	}
}

func size(dims []int) int {
	n := 1
	for _, d := range dims {
		n *= d
	}
	return n
}

// strides returns row-major strides of dims.
func strides(dims []int) []int {
	s := make([]int, len(dims))
	acc := 1
	for i := len(dims) - 1; i >= 0; i-- {
		s[i] = acc
		acc *= dims[i]
	}
	return s
}

// checkSupported reports ops (or configurations) the executor cannot run.
func checkSupported(p *program.Program, i int) error {
	op := p.Ops[i]
	unsupported := func(why string) error {
		return fmt.Errorf("%w: op #%d %s: %s", ErrUnsupported, i, op.Type, why)
	}
	if op.DType != dtypes.Float32 && op.DType != dtypes.Bool && op.DType != dtypes.Int32 {
		return unsupported(fmt.Sprintf("dtype %s", op.DType))
	}
	switch {
	case program.IsUnary(op.Type), program.IsBinary(op.Type), program.IsReduce(op.Type):
		if _, ok := unaryFns[op.Type]; program.IsUnary(op.Type) && !ok {
			return unsupported("no Go implementation")
		}
		if _, ok := binaryFns[op.Type]; program.IsBinary(op.Type) && !ok {
			return unsupported("no Go implementation")
		}
		return nil
	}
	switch op.Type {
	case program.OpInput, program.OpVariable, "Constant", "Iota", "Reshape", "ConvertDType", "BroadcastInDim",
		"Transpose", "Slice", "Concatenate", "Where":
		return nil
	case "Dot":
		l, r := p.Ops[op.Inputs[0]], p.Ops[op.Inputs[1]]
		if len(l.Dims) != 2 || len(r.Dims) != 2 {
			return unsupported("only matrix × matrix")
		}
		return nil
	case "DotGeneral":
		return nil
	case "ConvGeneral":
		if !channelsLast2D(op.Conv) {
			return unsupported("only channels-last 2-D convolutions without dilations or groups")
		}
		return nil
	}
	return unsupported("no Go implementation")
}

// matrixOperand reports whether op i multiplies rows by one matrix — a Dot of matrices, a
// DotGeneral contracting the last axis of its left operand with the first of a matrix, or the same
// with the matrix broadcast over a leading batch axis shared by both operands — and returns the op
// holding that [K, N] matrix (its last two dims).
func matrixOperand(p *program.Program, i int) (int, bool) {
	op := p.Ops[i]
	switch op.Type {
	case "Dot":
		return op.Inputs[1], len(p.Ops[op.Inputs[0]].Dims) == 2 && len(p.Ops[op.Inputs[1]].Dims) == 2
	case "DotGeneral":
	default:
		return 0, false
	}
	l, r := p.Ops[op.Inputs[0]], p.Ops[op.Inputs[1]]
	last := len(l.Dims) - 1
	if len(op.Batch[0]) == 0 && len(op.Batch[1]) == 0 && len(r.Dims) == 2 &&
		slices.Equal(op.Contracting[0], []int{last}) && slices.Equal(op.Contracting[1], []int{0}) {
		return op.Inputs[1], true
	}
	if slices.Equal(op.Batch[0], []int{0}) && slices.Equal(op.Batch[1], []int{0}) && len(r.Dims) == 3 && last >= 1 &&
		slices.Equal(op.Contracting[0], []int{last}) && slices.Equal(op.Contracting[1], []int{1}) &&
		r.Type == "BroadcastInDim" {
		src := p.Ops[r.Inputs[0]]
		if size(src.Dims) == size(r.Dims[1:]) && len(src.Dims) >= 2 &&
			slices.Equal(src.Dims[len(src.Dims)-2:], r.Dims[1:]) {
			return r.Inputs[0], true
		}
	}
	return 0, false
}

var unaryFns = map[string]func(float32) float32{
	"Neg":      func(x float32) float32 { return -x },
	"Abs":      func(x float32) float32 { return float32(math.Abs(float64(x))) },
	"Exp":      func(x float32) float32 { return float32(math.Exp(float64(x))) },
	"Log":      func(x float32) float32 { return float32(math.Log(float64(x))) },
	"Sqrt":     func(x float32) float32 { return float32(math.Sqrt(float64(x))) },
	"Rsqrt":    func(x float32) float32 { return float32(1 / math.Sqrt(float64(x))) },
	"Tanh":     func(x float32) float32 { return float32(math.Tanh(float64(x))) },
	"Erf":      func(x float32) float32 { return float32(math.Erf(float64(x))) }, // exact GELU
	"Logistic": func(x float32) float32 { return float32(1 / (1 + math.Exp(-float64(x)))) },
	"Identity": func(x float32) float32 { return x },
	"LogicalNot": func(x float32) float32 {
		if x == 0 {
			return 1
		}
		return 0
	},
}

func boolf(b bool) float32 {
	if b {
		return 1
	}
	return 0
}

var binaryFns = map[string]func(a, b float32) float32{
	"Add":            func(a, b float32) float32 { return a + b },
	"Sub":            func(a, b float32) float32 { return a - b },
	"Mul":            func(a, b float32) float32 { return a * b },
	"Div":            func(a, b float32) float32 { return a / b },
	"Max":            func(a, b float32) float32 { return max(a, b) },
	"Min":            func(a, b float32) float32 { return min(a, b) },
	"Equal":          func(a, b float32) float32 { return boolf(a == b) },
	"NotEqual":       func(a, b float32) float32 { return boolf(a != b) },
	"GreaterThan":    func(a, b float32) float32 { return boolf(a > b) },
	"GreaterOrEqual": func(a, b float32) float32 { return boolf(a >= b) },
	"LessThan":       func(a, b float32) float32 { return boolf(a < b) },
	"LessOrEqual":    func(a, b float32) float32 { return boolf(a <= b) },
	"LogicalAnd":     func(a, b float32) float32 { return boolf(a != 0 && b != 0) },
	"LogicalOr":      func(a, b float32) float32 { return boolf(a != 0 || b != 0) },
}

// channelsLast2D reports whether c is a convolution of [batch, h, w, channels] inputs with
// [kh, kw, in, out] kernels into [batch, h', w', out], without dilations or groups: what package nn
// builds, and what gomlxfix.Conv2DChannelsLast computes.
func channelsLast2D(c *program.ConvAttrs) bool {
	ones := func(s []int) bool {
		for _, v := range s {
			if v != 1 {
				return false
			}
		}
		return true
	}
	return c != nil && c.InputBatch == 0 && c.InputChannels == 3 && slices.Equal(c.InputSpatial, []int{1, 2}) &&
		c.KernelInputChannels == 2 && c.KernelOutputChannels == 3 && slices.Equal(c.KernelSpatial, []int{0, 1}) &&
		c.OutputBatch == 0 && c.OutputChannels == 3 && slices.Equal(c.OutputSpatial, []int{1, 2}) &&
		len(c.Strides) == 2 && len(c.Paddings) == 2 && ones(c.InputDilations) && ones(c.KernelDilations) &&
		c.ChannelGroupCount <= 1 && c.BatchGroupCount <= 1
}
