package onnxmodel

import (
	"fmt"
	"slices"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // GoMLX graph code reads best with the dot import.
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/prunelab/prunelab/models"
	"github.com/prunelab/prunelab/program"
	"github.com/prunelab/prunelab/pruning"
)

// LoadVariables puts the model's initializers into ctx as variables (under "/ONNX") and records
// the layouts of its prunable weights (pruning.ParamLayouts), so that masks, criteria and reports
// see Gemm's [out, in] and Conv's [out, in, k...] for what they are.
func (m *Model) LoadVariables(ctx *context.Context) error {
	if err := m.model.VariablesToContext(ctx.InAbsPath(context.RootScope)); err != nil {
		return fmt.Errorf("onnxmodel: %s: %w", m.displayName(), err)
	}
	layouts := make(map[string]pruning.Layout, len(m.Layers))
	for _, l := range m.Layers {
		layouts[l.Path] = l.Layout
	}
	pruning.SetLayouts(ctx, layouts)
	return nil
}

// Build is the model as a GoMLX function of its own input (x shaped like [Model.Input], e.g.
// [batch, 3, H, W]), returning its first output. The variables must be in ctx ([Model.LoadVariables]).
// It is graph-building code: it panics on a shape the graph rejects or an operator that fails to
// convert, with onnx-gomlx's message naming the node.
func (m *Model) Build(ctx *context.Context, x *Node) *Node {
	return m.model.CallGraph(ctx.InAbsPath(context.RootScope), x.Graph(), map[string]*Node{m.Input.Name: x})[0]
}

// ForImages adapts the model to a data set's images, example shaped [H, W, C] as package datasets
// gives them (NHWC), with numClasses classes (0: any). A convolutional input [batch, C, H, W] gets
// the images transposed to NCHW; a dense input [batch, F] with F = H·W·C gets them flattened in
// PyTorch's order (C, H, W); [batch, H, W] takes single-channel images as they are. Dynamic
// dimensions accept any size. The returned models.Model builds on the context's "/ONNX"
// variables, which its Init loads, and prunes exactly [Model.Layers] (its Prunable). An input or
// output that does not fit is an error wrapping [ErrInputShape].
func (m *Model) ForImages(example []int, numClasses int) (models.Model, error) {
	adapt, _, err := m.adapter(example)
	if err != nil {
		return models.Model{}, err
	}
	out := m.Output.Dims
	if len(out) != 2 {
		return models.Model{}, fmt.Errorf("%w: %s: output %s is not [batch, classes]", ErrInputShape, m.displayName(), m.Output)
	}
	classes := out[1]
	if numClasses > 0 && classes >= 0 && classes != numClasses {
		return models.Model{}, fmt.Errorf("%w: %s: output %s gives %d classes, the data set has %d", ErrInputShape,
			m.displayName(), m.Output, classes, numClasses)
	}
	if classes < 0 {
		classes = numClasses
	}
	return models.Model{
		Name:        m.Name(),
		Description: fmt.Sprintf("ONNX model %s (%s, opset %d), input %s", m.displayName(), m.Producer, m.Opset, m.Input),
		InputShape:  slices.Clone(example),
		NumClasses:  classes,
		Params:      m.Params,
		Weights:     m.Weights,
		Build: func(ctx *context.Context, x *Node) *Node {
			return m.Build(ctx, adapt(x))
		},
		Init:     m.LoadVariables,
		Prunable: m.Prunable(),
	}, nil
}

// InputExample is the shape of one example of the model's own input (without the batch) when it is
// fed images of shape example ([H, W, C]) as [Model.ForImages] feeds them: [C, H, W], [H·W·C], ...
func (m *Model) InputExample(example []int) ([]int, error) {
	_, dims, err := m.adapter(example)
	return dims, err
}

// adapter returns the function from NHWC images [batch, example...] to the model's input, and the
// shape of one example of that input.
func (m *Model) adapter(example []int) (func(*Node) *Node, []int, error) {
	if len(example) != 3 {
		return nil, nil, fmt.Errorf("%w: %s: examples %v are not images [H W C]", ErrInputShape, m.displayName(), example)
	}
	h, w, c := example[0], example[1], example[2]
	fits := func(want ...int) bool {
		dims := m.Input.Dims[1:]
		if len(dims) != len(want) {
			return false
		}
		for i, d := range dims {
			if d >= 0 && d != want[i] {
				return false
			}
		}
		return true
	}
	switch {
	case len(m.Input.Dims) == 4 && fits(c, h, w):
		return func(x *Node) *Node { return TransposeAllDims(x, 0, 3, 1, 2) }, []int{c, h, w}, nil
	case len(m.Input.Dims) == 4 && fits(h, w, c):
		return func(x *Node) *Node { return x }, []int{h, w, c}, nil
	case len(m.Input.Dims) == 3 && c == 1 && fits(h, w):
		return func(x *Node) *Node { return Reshape(x, -1, h, w) }, []int{h, w}, nil
	case len(m.Input.Dims) == 2 && fits(h*w*c):
		return func(x *Node) *Node {
			if c > 1 {
				x = TransposeAllDims(x, 0, 3, 1, 2)
			}
			return Reshape(x, -1, h*w*c)
		}, []int{h * w * c}, nil
	}
	return nil, nil, fmt.Errorf("%w: %s: input %s does not take images %dx%dx%d (H×W×C)", ErrInputShape, m.displayName(),
		m.Input, h, w, c)
}

// Trace traces the model into a program.Program for inputs whose examples have the shape example
// (the model's own input layout without the batch axis, e.g. [3, 224, 224]), after loading its
// variables into ctx if they are not there. A node that fails to convert is an error wrapping
// [ErrUnsupportedOp] (naming it), never a panic.
func (m *Model) Trace(backend backends.Backend, ctx *context.Context, example []int) (p *program.Program, err error) {
	if len(m.Layers) > 0 && ctx.InAbsPath(context.RootScope).GetVariableByScopeAndName(splitPath(m.Layers[0].Path)) == nil {
		if err := m.LoadVariables(ctx); err != nil {
			return nil, err
		}
	}
	defer func() {
		if r := recover(); r != nil {
			p, err = nil, fmt.Errorf("%w: %s: %v", ErrUnsupportedOp, m.displayName(), r)
		}
	}()
	p, err = program.Trace(backend, ctx, m.Build, shapes.Make(dtypes.Float32, example...))
	if err != nil {
		return nil, fmt.Errorf("onnxmodel: %s: %w", m.displayName(), err)
	}
	return p, nil
}

// splitPath splits a variable path into scope and name.
func splitPath(path string) (string, string) { return context.SplitScope(path) }

// displayName is the file path, or "ONNX model" for a model parsed from memory.
func (m *Model) displayName() string {
	if m.Path == "" {
		return "ONNX model"
	}
	return m.Path
}

// ReadWeights opens the ONNX file at path and returns it with its layers' weights (float32,
// row-major, keyed by variable path): what a written model holds, to check it.
func ReadWeights(path string) (*Model, map[string][]float32, error) {
	m, err := Open(path)
	if err != nil {
		return nil, nil, err
	}
	ctx := context.New()
	if err := m.LoadVariables(ctx); err != nil {
		return nil, nil, err
	}
	weights := make(map[string][]float32, len(m.Layers))
	for _, l := range m.Layers {
		v := ctx.GetVariableByScopeAndName(splitPath(l.Path))
		t, err := v.Value()
		if err != nil {
			return nil, nil, fmt.Errorf("onnxmodel: %s: %s: %w", path, l.Initializer, err)
		}
		weights[l.Path] = tensors.MustCopyFlatData[float32](t)
	}
	return m, weights, nil
}
