package onnxmodel

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/onnx-gomlx/onnx"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/prunelab/prunelab/pruning"
)

var (
	// ErrFormat: the bytes are not an ONNX model Prunelab can use (a truncated or corrupt
	// protobuf, no graph, not exactly one float32 tensor input).
	ErrFormat = errors.New("onnxmodel: not a usable ONNX model")
	// ErrUnsupportedOp: the graph has an operator that onnx-gomlx v0.3.4 does not convert (or
	// converts wrongly, see the package documentation).
	ErrUnsupportedOp = errors.New("onnxmodel: unsupported ONNX operator")
	// ErrExternalData: an initializer's external-data file is missing, unreadable or too short.
	ErrExternalData = errors.New("onnxmodel: external data")
	// ErrInputShape: a data set's examples do not fit the model's input (or its classes the
	// model's output).
	ErrInputShape = errors.New("onnxmodel: input does not fit the model")
	// ErrCompaction: a compacted model that the ONNX graph cannot express.
	ErrCompaction = errors.New("onnxmodel: cannot write the compacted model as ONNX")
)

// Converted lists the ONNX operators (default domain) that onnx-gomlx v0.3.4 converts: the cases
// of its convertNode. Update it with the dependency.
var Converted = []string{"Abs", "Add", "And", "AveragePool", "BatchNormalization", "BitwiseAnd", "BitwiseNot",
	"BitwiseOr", "BitwiseXor", "Cast", "Ceil", "Clip", "Concat", "Constant", "ConstantOfShape", "Conv", "Cos",
	"CumSum", "DequantizeLinear", "Div", "DynamicQuantizeLinear", "Equal", "Erf", "Exp", "Expand", "Flatten",
	"Floor", "Gather", "GatherElements", "Gemm", "GlobalAveragePool", "Greater", "GreaterOrEqual", "Identity",
	"If", "LSTM", "LayerNormalization", "Less", "LessOrEqual", "Log", "MatMul", "MatMulInteger", "Max",
	"MaxPool", "Min", "Mul", "Neg", "Not", "Or", "Pad", "Pow", "QLinearMatMul", "QuantizeLinear", "Range",
	"ReduceMean", "Relu", "Reshape", "ScatterND", "Shape", "Sign", "Sin", "Slice", "Softmax", "Split", "Sqrt",
	"Squeeze", "Sub", "Tanh", "Tile", "Transpose", "Trilu", "Unsqueeze", "Where", "Xor"}

// Tensor describes a graph input or output: its name and dimensions, -1 where a dimension is
// dynamic (DimNames then holds its name, e.g. "batch").
type Tensor struct {
	Name     string   `json:"name"`
	Dims     []int    `json:"dims"`
	DimNames []string `json:"dim_names,omitempty"`
}

// String formats t as "input [batch 3 height width]".
func (t Tensor) String() string {
	parts := make([]string, len(t.Dims))
	for i, d := range t.Dims {
		switch {
		case d >= 0:
			parts[i] = strconv.Itoa(d)
		case i < len(t.DimNames) && t.DimNames[i] != "":
			parts[i] = t.DimNames[i]
		default:
			parts[i] = "?"
		}
	}
	return fmt.Sprintf("%s [%s]", t.Name, strings.Join(parts, " "))
}

// Layer is one prunable weight of an ONNX graph: the weight operand of Conv, Gemm or MatMul nodes.
type Layer struct {
	// Initializer is the weight's ONNX initializer name; Path its GoMLX variable path.
	Initializer string `json:"initializer"`
	Path        string `json:"path"`
	// Op is the operator ("Conv", "Gemm", "MatMul"); Nodes the nodes that use the weight.
	Op    string   `json:"op"`
	Nodes []string `json:"nodes"`
	// Bias is the initializer added by the same node (Conv's B, Gemm's C), "" if none.
	Bias   string `json:"bias,omitempty"`
	Shape  []int  `json:"shape"`
	Groups int    `json:"groups,omitempty"`
	// Layout says which axes are the layer's inputs and outputs.
	Layout pruning.Layout `json:"layout"`
}

// Model is an ONNX model opened for pruning. It keeps the parsed graph, from which [Model.Build]
// converts and [Model.Write] writes.
type Model struct {
	// Path is the file it was read from ("" after [Parse]); SHA256 the hex digest of its bytes.
	Path, SHA256 string
	// Input and Output are the graph's (single) input and first output.
	Input, Output Tensor
	// Opset is the default domain's operator set version; Producer the tool that wrote the file.
	Opset    int
	Producer string
	// Layers are the prunable weights, in graph order.
	Layers []Layer
	// Params counts the elements of all float initializers; Weights those of Layers.
	Params, Weights int

	model *onnx.Model
}

// VariablePath is the GoMLX variable path of an ONNX initializer: "/ONNX/<name>", with "/" in the
// name replaced as onnx-gomlx does.
func VariablePath(initializer string) string {
	return context.JoinScope(context.ScopeSeparator+onnx.ModelScope, onnx.SafeVarName(initializer))
}

// Open reads and parses the ONNX file at path, loading external data from its directory.
func Open(path string) (*Model, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("onnxmodel: %w", err)
	}
	m, err := parse(data, filepath.Dir(path), path)
	if err != nil {
		return nil, err
	}
	m.Path = path
	return m, nil
}

// Parse parses an ONNX model held in memory; external data is read from dir ("" allows none).
// It never panics.
func Parse(data []byte, dir string) (*Model, error) { return parse(data, dir, "ONNX model") }

func parse(data []byte, dir, name string) (m *Model, err error) {
	defer func() {
		if r := recover(); r != nil {
			m, err = nil, fmt.Errorf("%w: %s: %v", ErrFormat, name, r)
		}
	}()
	if len(data) == 0 {
		return nil, fmt.Errorf("%w: %s: empty file", ErrFormat, name)
	}
	if err := checkHasGraph(data); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrFormat, name, err)
	}
	om, err := onnx.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrFormat, name, err)
	}
	if om.Proto.Graph == nil || len(om.Proto.Graph.Node) == 0 {
		return nil, fmt.Errorf("%w: %s: the model has no graph", ErrFormat, name)
	}
	sum := sha256.Sum256(data)
	m = &Model{SHA256: hex.EncodeToString(sum[:]), Producer: om.Proto.ProducerName, model: om}
	for _, op := range om.Proto.OpsetImport {
		if op.Domain == "" || op.Domain == "ai.onnx" {
			m.Opset = int(op.Version)
		}
	}
	if err := loadExternalData(om, dir, name); err != nil {
		return nil, err
	}
	if err := m.describe(name); err != nil {
		return nil, err
	}
	return m, nil
}

// checkHasGraph scans the top level of a serialized ModelProto for its graph (field 7), which
// onnx-gomlx v0.3.4's Parse dereferences without checking.
func checkHasGraph(data []byte) error {
	for len(data) > 0 {
		num, typ, n := protowire.ConsumeTag(data)
		if n < 0 {
			return fmt.Errorf("not a protobuf message: %w", protowire.ParseError(n))
		}
		data = data[n:]
		if num == 7 && typ == protowire.BytesType {
			return nil
		}
		n = protowire.ConsumeFieldValue(num, typ, data)
		if n < 0 {
			return fmt.Errorf("not a protobuf message: %w", protowire.ParseError(n))
		}
		data = data[n:]
	}
	return errors.New("the model has no graph")
}

// elementSize is the size in bytes of an ONNX tensor element type, 0 if unknown here.
func elementSize(dataType int32) int64 {
	switch dataType {
	case 2, 3, 9: // uint8, int8, bool
		return 1
	case 4, 5, 10, 16: // uint16, int16, float16, bfloat16
		return 2
	case 1, 6, 12: // float, int32, uint32
		return 4
	case 7, 11, 13: // int64, double, uint64
		return 8
	}
	return 0
}

// loadExternalData reads initializers stored outside the model file (location, offset and length
// relative to dir) into the graph, which onnx-gomlx v0.3.4 does not do.
func loadExternalData(om *onnx.Model, dir, name string) error {
	for _, t := range om.Proto.Graph.Initializer {
		if len(t.ExternalData) == 0 && t.DataLocation == 0 {
			continue
		}
		var location string
		offset, length := int64(0), int64(-1)
		for _, kv := range t.ExternalData {
			var err error
			switch kv.Key {
			case "location":
				location = kv.Value
			case "offset":
				offset, err = strconv.ParseInt(kv.Value, 10, 64)
			case "length":
				length, err = strconv.ParseInt(kv.Value, 10, 64)
			}
			if err != nil || offset < 0 {
				return fmt.Errorf("%w: %s: initializer %q: bad %s %q", ErrExternalData, name, t.Name, kv.Key, kv.Value)
			}
		}
		if location == "" || filepath.IsAbs(location) || !filepath.IsLocal(location) {
			return fmt.Errorf("%w: %s: initializer %q: external location %q must be a file beside the model",
				ErrExternalData, name, t.Name, location)
		}
		if dir == "" {
			return fmt.Errorf("%w: %s: initializer %q is stored in %q, and the model was not read from a directory",
				ErrExternalData, name, t.Name, location)
		}
		file := filepath.Join(dir, location)
		data, err := os.ReadFile(file)
		if err != nil {
			return fmt.Errorf("%w: %s: initializer %q: %v", ErrExternalData, name, t.Name, err)
		}
		if size := elementSize(t.DataType); size > 0 {
			want := size
			for _, d := range t.Dims {
				want *= d
			}
			if length >= 0 && length != want {
				return fmt.Errorf("%w: %s: initializer %q: external length %d, its shape %v needs %d bytes",
					ErrExternalData, name, t.Name, length, t.Dims, want)
			}
			length = want
		}
		if length < 0 {
			length = int64(len(data)) - offset
		}
		if offset+length > int64(len(data)) || length < 0 {
			return fmt.Errorf("%w: %s: initializer %q: %s holds %d bytes, the initializer needs bytes %d to %d",
				ErrExternalData, name, t.Name, file, len(data), offset, offset+length)
		}
		t.RawData = slices.Clone(data[offset : offset+length])
		t.ExternalData = nil
		t.DataLocation = 0
	}
	return nil
}

// describe fills the model's input, output and layers from the graph and checks that every
// operator converts.
func (m *Model) describe(name string) error {
	om := m.model
	g := om.Proto.Graph
	inits := map[string]int{}
	for i, t := range g.Initializer {
		inits[t.Name] = i
		if t.DataType == 1 || t.DataType == 10 || t.DataType == 11 { // float, float16, double
			n := 1
			for _, d := range t.Dims {
				n *= int(d)
			}
			m.Params += n
		}
	}
	// Graph inputs that are initializers (IR version < 4) are not model inputs.
	var inputs []Tensor
	for i, in := range om.InputsNames {
		if _, ok := inits[in]; ok {
			continue
		}
		ds := om.InputsShapes[i]
		if ds.DType != dtypes.Float32 {
			return fmt.Errorf("%w: %s: input %q is %s; Prunelab feeds float32 images", ErrFormat, name, in, ds.DType)
		}
		inputs = append(inputs, Tensor{Name: in, Dims: slices.Clone(ds.Dimensions), DimNames: slices.Clone(ds.Names)})
	}
	if len(inputs) != 1 {
		return fmt.Errorf("%w: %s: the graph has %d inputs; Prunelab feeds models of one input", ErrFormat, name,
			len(inputs))
	}
	m.Input = inputs[0]
	if len(om.OutputsNames) == 0 {
		return fmt.Errorf("%w: %s: the graph has no output", ErrFormat, name)
	}
	m.Output = Tensor{Name: om.OutputsNames[0], Dims: slices.Clone(om.OutputsShapes[0].Dimensions),
		DimNames: slices.Clone(om.OutputsShapes[0].Names)}

	byInit := map[string]int{} // initializer -> index in m.Layers
	for i, node := range g.Node {
		nodeName := node.Name
		if nodeName == "" {
			nodeName = fmt.Sprintf("#%d", i)
		}
		if (node.Domain != "" && node.Domain != "ai.onnx") || !slices.Contains(Converted, node.OpType) {
			domain := ""
			if node.Domain != "" {
				domain = " of domain " + node.Domain
			}
			return fmt.Errorf("%w: %s: node %q: operator %s%s (onnx-gomlx v0.3.4 converts %d operators, see onnxmodel.Converted)",
				ErrUnsupportedOp, name, nodeName, node.OpType, domain, len(Converted))
		}
		var l Layer
		switch node.OpType {
		case "Gemm":
			alpha, beta := attrFloat(node.Attribute, "alpha", 1), attrFloat(node.Attribute, "beta", 1)
			if alpha != beta {
				return fmt.Errorf("%w: %s: node %q: Gemm with alpha %g and beta %g (onnx-gomlx v0.3.4 reads beta from alpha)",
					ErrUnsupportedOp, name, nodeName, alpha, beta)
			}
			if len(node.Input) < 2 || attrInt(node.Attribute, "transA", 0) != 0 {
				continue
			}
			l = Layer{Op: "Gemm", Initializer: node.Input[1]}
			if attrInt(node.Attribute, "transB", 0) != 0 {
				l.Layout = pruning.Layout{Kind: pruning.KindDense, Out: pruning.Axes{Begin: 0, End: 1}, In: pruning.Axes{Begin: 1, End: 2}}
			} else {
				l.Layout = pruning.Layout{Kind: pruning.KindDense, In: pruning.Axes{Begin: 0, End: 1}, Out: pruning.Axes{Begin: 1, End: 2}}
			}
			if len(node.Input) > 2 {
				l.Bias = node.Input[2]
			}
		case "MatMul":
			if len(node.Input) < 2 {
				continue
			}
			l = Layer{Op: "MatMul", Initializer: node.Input[1],
				Layout: pruning.Layout{Kind: pruning.KindDense, In: pruning.Axes{Begin: 0, End: 1}, Out: pruning.Axes{Begin: 1, End: 2}}}
		case "Conv":
			if len(node.Input) < 2 {
				continue
			}
			l = Layer{Op: "Conv", Initializer: node.Input[1], Groups: int(attrInt(node.Attribute, "group", 1)),
				Layout: pruning.Layout{Kind: pruning.KindConv, Out: pruning.Axes{Begin: 0, End: 1}, In: pruning.Axes{Begin: 1, End: 2}}}
			if len(node.Input) > 2 {
				l.Bias = node.Input[2]
			}
		default:
			continue
		}
		k, ok := inits[l.Initializer]
		if !ok {
			continue // a weight computed in the graph (or a graph input) is not a prunable variable
		}
		t := g.Initializer[k]
		if t.DataType != 1 || len(t.Dims) < 2 || (l.Op != "Conv" && len(t.Dims) != 2) {
			continue
		}
		if _, ok := inits[l.Bias]; !ok {
			l.Bias = ""
		}
		for _, d := range t.Dims {
			l.Shape = append(l.Shape, int(d))
		}
		if j, ok := byInit[l.Initializer]; ok { // a weight shared by several nodes
			if m.Layers[j].Op != l.Op || m.Layers[j].Layout != l.Layout {
				return fmt.Errorf("%w: %s: initializer %q is used by a %s and a %s node with different layouts",
					ErrFormat, name, l.Initializer, m.Layers[j].Op, l.Op)
			}
			m.Layers[j].Nodes = append(m.Layers[j].Nodes, nodeName)
			continue
		}
		l.Path = VariablePath(l.Initializer)
		l.Nodes = []string{nodeName}
		byInit[l.Initializer] = len(m.Layers)
		m.Layers = append(m.Layers, l)
		m.Weights += prod(l.Shape)
	}
	return nil
}

// attrInt returns the int attribute name of a node, or def.
func attrInt[A interface {
	GetName() string
	GetI() int64
}](attrs []A, name string, def int64) int64 {
	for _, a := range attrs {
		if a.GetName() == name {
			return a.GetI()
		}
	}
	return def
}

// attrFloat returns the float attribute name of a node, or def.
func attrFloat[A interface {
	GetName() string
	GetF() float32
}](attrs []A, name string, def float32) float32 {
	for _, a := range attrs {
		if a.GetName() == name {
			return a.GetF()
		}
	}
	return def
}

func prod(dims []int) int {
	n := 1
	for _, d := range dims {
		n *= d
	}
	return n
}

// Layer returns the layer whose weight is the variable path, if any.
func (m *Model) Layer(path string) (Layer, bool) {
	for _, l := range m.Layers {
		if l.Path == path {
			return l, true
		}
	}
	return Layer{}, false
}

// Prunable returns the variable paths of the layers' weights.
func (m *Model) Prunable() []string {
	paths := make([]string, len(m.Layers))
	for i, l := range m.Layers {
		paths[i] = l.Path
	}
	return paths
}

// Selector selects exactly the layers' weights for pruning.
func (m *Model) Selector() pruning.Selector { return pruning.Exactly(m.Prunable()...) }

// Name is a short name for the model, usable in file names: "onnx-" and the file's base name
// without extension ("onnx-model" for a model parsed from memory).
func (m *Model) Name() string {
	if m.Path == "" {
		return "onnx-model"
	}
	return "onnx-" + strings.TrimSuffix(filepath.Base(m.Path), filepath.Ext(m.Path))
}
