package lm

import (
	"fmt"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/prunelab/prunelab/backend"
	"github.com/prunelab/prunelab/textdata"
)

// EvalBatchSize is the number of windows [Evaluate] runs at once.
const EvalBatchSize = 32

// Evaluate returns the cross-entropy of m, with the variables of ctx, on text: every byte of text
// but the first, in windows of m.Context+1 bytes laid end to end ([textdata.SequentialWindows]; a
// last partial window is dropped, CrossEntropy.Bytes says how many bytes were scored). It runs on
// [backend.Default]. Variables m needs that ctx lacks are created and initialized (ctx's
// initializer and seed). It returns an error wrapping [textdata.ErrTooShort] when text holds no
// window.
func Evaluate(ctx *context.Context, m Model, text []byte) (textdata.CrossEntropy, error) {
	b, err := backend.Default()
	if err != nil {
		return textdata.CrossEntropy{}, err
	}
	e, err := newEvaluator(b, ctx, m)
	if err != nil {
		return textdata.CrossEntropy{}, err
	}
	return e.run(text)
}

// evaluator keeps the compiled evaluation graphs of one model and context.
type evaluator struct {
	m    Model
	exec *context.Exec
}

func newEvaluator(b backends.Backend, ctx *context.Context, m Model) (*evaluator, error) {
	if m.Build == nil {
		return nil, fmt.Errorf("lm: model %q has no Build function", m.Name)
	}
	exec, err := context.NewExec(b, ctx.Checked(false), func(ctx *context.Context, x, y *graph.Node) *graph.Node {
		// The sum of the batch's losses, in float32: EvalBatchSize·Context terms.
		return graph.ReduceAllSum(crossEntropyGraph(m.Build(ctx, x), y))
	})
	if err != nil {
		return nil, fmt.Errorf("lm: evaluating %s: %w", m.Name, err)
	}
	return &evaluator{m: m, exec: exec}, nil
}

func (e *evaluator) run(text []byte) (textdata.CrossEntropy, error) {
	t := e.m.Context
	if t < 1 {
		return textdata.CrossEntropy{}, fmt.Errorf("lm: model %s: Context must be positive, got %d", e.m.Name, t)
	}
	windows := textdata.SequentialWindows(text, t)
	if len(windows) == 0 {
		return textdata.CrossEntropy{}, fmt.Errorf("lm: evaluating %s: %d bytes for windows of context %d: %w",
			e.m.Name, len(text), t, textdata.ErrTooShort)
	}
	sum := 0.0
	for i := 0; i < len(windows); i += EvalBatchSize {
		x, y := batchTensors(windows[i:min(i+EvalBatchSize, len(windows))], t)
		out, err := e.exec.Exec(x, y)
		finalize(x, y)
		if err != nil {
			return textdata.CrossEntropy{}, fmt.Errorf("lm: evaluating %s: %w", e.m.Name, err)
		}
		sum += shapes.ConvertTo[float64](out[0].Value())
		finalize(out...)
	}
	n := len(windows) * t
	return textdata.CrossEntropy{NatsPerByte: sum / float64(n), Bytes: n}, nil
}
