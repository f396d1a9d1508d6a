package pruning

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/train"
)

// GradientSource gives gradient-based criteria the gradients of a loss with respect to the
// prunable variables, one batch per call.
type GradientSource interface {
	// Gradients returns, for the next batch, the gradient of the loss with respect to each
	// variable in paths, row-major, keyed by path.
	Gradients(paths []string) (map[string][]float64, error)
}

// GradientSourceFunc adapts a function to a [GradientSource].
type GradientSourceFunc func(paths []string) (map[string][]float64, error)

// Gradients implements GradientSource.
func (f GradientSourceFunc) Gradients(paths []string) (map[string][]float64, error) { return f(paths) }

// DatasetGradients is a [GradientSource] that runs a model and loss on batches of a GoMLX
// dataset and differentiates the loss with graph.Gradient. Build it with [NewDatasetGradients].
type DatasetGradients struct {
	backend  backends.Backend
	ctx      *context.Context
	modelFn  train.ModelFn
	lossFn   train.LossFn
	ds       train.Dataset
	training bool

	mu    sync.Mutex
	execs map[string]*context.Exec
}

// NewDatasetGradients returns a GradientSource computing the gradients of lossFn(labels,
// modelFn(inputs)) (mean over the batch if not scalar) on the batches ds yields, restarting it
// at io.EOF. Variables are read from ctx; nothing in ctx changes. The graph is built in
// inference mode (see [DatasetGradients.Training]); one graph is compiled per set of paths and
// input shapes.
func NewDatasetGradients(backend backends.Backend, ctx *context.Context, modelFn train.ModelFn,
	lossFn train.LossFn, ds train.Dataset) *DatasetGradients {
	return &DatasetGradients{backend: backend, ctx: ctx, modelFn: modelFn, lossFn: lossFn, ds: ds,
		execs: make(map[string]*context.Exec)}
}

// Training makes the model graph be built in training mode (dropout, batch statistics), as the
// gradients of a training step would be. It returns the receiver.
func (d *DatasetGradients) Training(training bool) *DatasetGradients {
	d.training = training
	return d
}

// Gradients implements GradientSource.
func (d *DatasetGradients) Gradients(paths []string) (map[string][]float64, error) {
	spec, inputs, labels, err := d.ds.Yield()
	if errors.Is(err, io.EOF) {
		d.ds.Reset()
		spec, inputs, labels, err = d.ds.Yield()
	}
	if err != nil {
		return nil, fmt.Errorf("pruning: gradients: dataset %s: %w", d.ds.Name(), err)
	}
	defer func() {
		for _, t := range inputs {
			_ = t.FinalizeAll()
		}
		for _, t := range labels {
			_ = t.FinalizeAll()
		}
	}()
	exec, err := d.exec(spec, paths, len(inputs))
	if err != nil {
		return nil, err
	}
	args := make([]any, 0, len(inputs)+len(labels))
	for _, t := range inputs {
		args = append(args, t)
	}
	for _, t := range labels {
		args = append(args, t)
	}
	outs, err := exec.Exec(args...)
	if err != nil {
		return nil, fmt.Errorf("pruning: gradients: %w", err)
	}
	if len(outs) != len(paths) {
		return nil, fmt.Errorf("pruning: gradients: got %d outputs for %d variables", len(outs), len(paths))
	}
	grads := make(map[string][]float64, len(paths))
	for i, p := range paths {
		g, err := tensorFloats(outs[i])
		_ = outs[i].FinalizeAll()
		if err != nil {
			return nil, fmt.Errorf("pruning: gradient of %s: %w", p, err)
		}
		grads[p] = g
	}
	return grads, nil
}

func (d *DatasetGradients) exec(spec any, paths []string, numInputs int) (*context.Exec, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	key := fmt.Sprintf("%v|%d|%s", spec, numInputs, strings.Join(paths, ","))
	if e, ok := d.execs[key]; ok {
		return e, nil
	}
	pathsCopy := append([]string(nil), paths...)
	e, err := context.NewExec(d.backend, d.ctx.Checked(false), func(ctx *context.Context, in []*graph.Node) []*graph.Node {
		g := in[0].Graph()
		ctx.SetTraining(g, d.training)
		preds := d.modelFn(ctx, spec, in[:numInputs])
		loss := d.lossFn(in[numInputs:], preds)
		if !loss.Shape().IsScalar() {
			loss = graph.ReduceAllMean(loss)
		}
		nodes := make([]*graph.Node, len(pathsCopy))
		for i, p := range pathsCopy {
			scope, name := context.SplitScope(p)
			v := ctx.GetVariableByScopeAndName(scope, name)
			if v == nil || !v.InUseByGraph(g) {
				panic(fmt.Errorf("pruning: gradients: variable %s is not used by the model", p))
			}
			nodes[i] = v.ValueGraph(g)
		}
		return graph.Gradient(loss, nodes...)
	})
	if err != nil {
		return nil, fmt.Errorf("pruning: gradients: %w", err)
	}
	d.execs[key] = e
	return e, nil
}
