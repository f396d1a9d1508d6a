package lm

import (
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/train"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"

	"github.com/prunelab/prunelab/backend"
	"github.com/prunelab/prunelab/internal/gomlxfix"
	"github.com/prunelab/prunelab/models"
	"github.com/prunelab/prunelab/textdata"
)

// Model is a byte-level language model.
type Model struct {
	// Name is used in messages.
	Name string
	// Context is the longest input the model reads, and the window length of training and evaluation.
	Context int
	// Build maps byte values, float32 [batch, T] with T <= Context, to the logits of each
	// position's next byte, [batch, T, 256]. It is graph-building code and panics on error.
	Build models.BuildFn
}

// GPT is the [Model] of a GPT configuration: its Build and Context.
func GPT(name string, c models.GPTConfig) Model {
	return Model{Name: name, Context: c.Context, Build: c.Build}
}

// Config is everything that changes how a model trains. Zero fields take the defaults in their comments.
type Config struct {
	// Model to train; default GPT("gpt-tiny", models.GPTTiny).
	Model Model
	// Train is the text to train on, Validation the text evaluated every EvalEvery steps and at
	// the end (its first EvalBytes bytes; none when it is nil).
	Train, Validation []byte
	// Steps is the number of optimizer steps (required).
	Steps int
	// BatchSize is the number of windows per step; default 32.
	BatchSize int
	// LearningRate is Adam's (peak) learning rate; default 1e-3.
	LearningRate float64
	// Warmup is the number of steps of linear warm-up from 0 to LearningRate; default 0.
	Warmup int
	// Cosine decays the learning rate after the warm-up as a half cosine, from LearningRate to
	// MinLearningRate at the last step.
	Cosine bool
	// MinLearningRate is where the cosine ends; default LearningRate/10.
	MinLearningRate float64
	// WeightDecay is Adam's decoupled weight decay (AdamW); default 0.
	WeightDecay float64
	// EvalEvery evaluates on Validation every that many steps; 0 only at the end.
	EvalEvery int
	// EvalBytes caps the validation text per evaluation; default 64 KiB.
	EvalBytes int
	// Seed drives initialization and the training windows; 0 is a seed like any other.
	Seed int64
	// Log receives one line per evaluation; nil is silent.
	Log io.Writer
	// Context, when set, holds the variables to start from (a trained model, e.g. pruned, to
	// fine-tune) instead of a fresh initialization; the optimizer's state starts afresh in it.
	// Non-trainable variables (head and block gates) keep their values.
	Context *context.Context
	// AfterStep, when set, is called after each step with the number of steps done (1 after the
	// first), e.g. to update pruning masks on a schedule; an error stops training.
	AfterStep func(done int) error
}

func (c Config) withDefaults() Config {
	if c.Model.Build == nil {
		c.Model = GPT("gpt-tiny", models.GPTTiny)
	}
	if c.BatchSize == 0 {
		c.BatchSize = 32
	}
	if c.LearningRate == 0 {
		c.LearningRate = 1e-3
	}
	if c.MinLearningRate == 0 {
		c.MinLearningRate = c.LearningRate / 10
	}
	if c.EvalBytes == 0 {
		c.EvalBytes = 64 << 10
	}
	return c
}

func (c Config) validate() error {
	switch {
	case c.Steps < 1:
		return fmt.Errorf("lm: Config.Steps must be positive, got %d", c.Steps)
	case c.Model.Context < 1:
		return fmt.Errorf("lm: model %s: Context must be positive, got %d", c.Model.Name, c.Model.Context)
	case c.BatchSize < 1:
		return fmt.Errorf("lm: Config.BatchSize must be positive, got %d", c.BatchSize)
	case !(c.LearningRate > 0) || c.MinLearningRate < 0 || math.IsNaN(c.MinLearningRate):
		return fmt.Errorf("lm: learning rates must be positive, got %g and minimum %g", c.LearningRate, c.MinLearningRate)
	case c.Warmup < 0 || c.EvalEvery < 0 || c.EvalBytes < 0 || c.WeightDecay < 0:
		return fmt.Errorf("lm: Warmup, EvalEvery, EvalBytes and WeightDecay must be >= 0, got %d, %d, %d and %g",
			c.Warmup, c.EvalEvery, c.EvalBytes, c.WeightDecay)
	}
	return nil
}

// LearningRateAt is the learning rate of step (0 is the first): linear warm-up over Warmup steps
// to LearningRate (step w < Warmup runs at LearningRate·(w+1)/Warmup), then constant, or with
// Cosine a half cosine from LearningRate down to MinLearningRate at step Steps−1. Zero fields take
// their defaults.
func (c Config) LearningRateAt(step int) float64 {
	c = c.withDefaults()
	if step < c.Warmup {
		return c.LearningRate * float64(step+1) / float64(c.Warmup)
	}
	if !c.Cosine || c.Steps-1 <= c.Warmup {
		return c.LearningRate
	}
	progress := math.Min(1, float64(step-c.Warmup)/float64(c.Steps-1-c.Warmup))
	return c.MinLearningRate + (c.LearningRate-c.MinLearningRate)*0.5*(1+math.Cos(math.Pi*progress))
}

// Point is one evaluation during training.
type Point struct {
	// Step is the number of steps done.
	Step int
	// TrainLoss is the mean loss (nats per byte) of the training batches since the previous point.
	TrainLoss float64
	// Validation is the cross-entropy on the validation text (zero when there is none).
	Validation textdata.CrossEntropy
}

// Result is a trained model and how its training went.
type Result struct {
	// Model is the model trained, Context its variables (and Adam's state).
	Model   Model
	Context *context.Context
	// Curve holds the evaluations, in step order.
	Curve []Point
	// Final is the last validation cross-entropy (zero without validation text).
	Final textdata.CrossEntropy
	// Steps is the number of steps run; FirstStep the first one's time (it compiles the graph),
	// StepTime the mean time of the others; TrainTime all steps, Duration the whole call.
	Steps                                    int
	FirstStep, StepTime, TrainTime, Duration time.Duration
}

// Train trains cfg.Model on cfg.Train from a fresh initialization, seeded by cfg.Seed, on
// [backend.Default] with [gomlxfix.Install]'s gradients. See [Config] for the defaults.
func Train(cfg Config) (*Result, error) {
	start := time.Now()
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	t := cfg.Model.Context
	windows, err := textdata.NewWindows(cfg.Train, t, uint64(cfg.Seed))
	if err != nil {
		return nil, fmt.Errorf("lm: training text: %w", err)
	}
	validation := cfg.Validation
	if len(validation) > cfg.EvalBytes {
		validation = validation[:cfg.EvalBytes]
	}
	if validation != nil && len(validation) < t+1 {
		return nil, fmt.Errorf("lm: validation text of %d bytes (EvalBytes %d) for windows of context %d: %w",
			len(validation), cfg.EvalBytes, t, textdata.ErrTooShort)
	}
	b, err := backend.Default()
	if err != nil {
		return nil, err
	}
	gomlxfix.Install()
	ctx := cfg.Context
	if ctx == nil {
		ctx = context.New()
	} else {
		ctx = ctx.Checked(false) // the model's variables exist already
	}
	ctx.SetParam(context.ParamInitialSeed, cfg.Seed)
	adam := optimizers.Adam().LearningRate(cfg.LearningRateAt(0)).Epsilon(1e-8)
	if cfg.WeightDecay > 0 {
		adam = adam.WeightDecay(cfg.WeightDecay)
	}
	build := cfg.Model.Build
	modelFn := func(ctx *context.Context, _ any, inputs []*graph.Node) []*graph.Node {
		return []*graph.Node{build(ctx, inputs[0])}
	}
	lossFn := func(labels, predictions []*graph.Node) *graph.Node {
		return graph.ReduceAllMean(crossEntropyGraph(predictions[0], labels[0]))
	}
	trainer := train.NewTrainer(b, ctx, modelFn, lossFn, adam.Done(), nil, nil)
	eval, err := newEvaluator(b, ctx, cfg.Model)
	if err != nil {
		return nil, err
	}

	res := &Result{Model: cfg.Model, Context: ctx}
	every := cfg.EvalEvery
	if every == 0 {
		every = cfg.Steps
	}
	lastLR, lossSum, lossSteps := cfg.LearningRateAt(0), 0.0, 0
	for step := range cfg.Steps {
		if lr := cfg.LearningRateAt(step); lr != lastLR {
			if err := setLearningRate(ctx, lr); err != nil {
				return nil, err
			}
			lastLR = lr
		}
		x, y := batchTensors(windows.Next(cfg.BatchSize), t)
		stepStart := time.Now()
		metrics, err := trainer.TrainStep(nil, []*tensors.Tensor{x}, []*tensors.Tensor{y})
		if err != nil {
			return nil, fmt.Errorf("lm: training %s at step %d: %w", cfg.Model.Name, step, err)
		}
		took := time.Since(stepStart)
		loss := shapes.ConvertTo[float64](metrics[0].Value())
		finalize(append(metrics, x, y)...)
		if math.IsNaN(loss) || math.IsInf(loss, 0) {
			return nil, fmt.Errorf("lm: training %s: loss %g at step %d (learning rate %g too high?)",
				cfg.Model.Name, loss, step, lastLR)
		}
		res.Steps++
		res.TrainTime += took
		if step == 0 {
			res.FirstStep = took
		}
		lossSum += loss
		lossSteps++
		if cfg.AfterStep != nil {
			if err := cfg.AfterStep(step + 1); err != nil {
				return nil, fmt.Errorf("lm: training %s after step %d: %w", cfg.Model.Name, step+1, err)
			}
		}
		if done := step + 1; done%every == 0 || done == cfg.Steps {
			p := Point{Step: done, TrainLoss: lossSum / float64(lossSteps)}
			lossSum, lossSteps = 0, 0
			if validation != nil {
				if p.Validation, err = eval.run(validation); err != nil {
					return nil, fmt.Errorf("lm: evaluating %s at step %d: %w", cfg.Model.Name, done, err)
				}
				res.Final = p.Validation
			}
			res.Curve = append(res.Curve, p)
			if cfg.Log != nil {
				line := fmt.Sprintf("step %6d  train %.4f nats/byte", done, p.TrainLoss)
				if validation != nil {
					line += fmt.Sprintf("  validation %s", p.Validation)
				}
				fmt.Fprintf(cfg.Log, "%s  (%.0f ms/step)\n", line,
					float64(res.TrainTime-res.FirstStep)/float64(max(1, res.Steps-1))/1e6)
			}
		}
	}
	if res.Steps > 1 {
		res.StepTime = (res.TrainTime - res.FirstStep) / time.Duration(res.Steps-1)
	}
	res.Duration = time.Since(start)
	return res, nil
}

// Gradients returns the gradient of the mean next-byte cross-entropy of m on windows (of at
// least m.Context+1 bytes) with respect to the variables of ctx at paths (e.g. head gates, for
// Michel et al.'s head importance), in the order of paths, flattened.
func Gradients(ctx *context.Context, m Model, windows [][]byte, paths []string) ([][]float32, error) {
	b, err := backend.Default()
	if err != nil {
		return nil, err
	}
	gomlxfix.Install()
	vars := make([]*context.Variable, len(paths))
	for i, p := range paths {
		scope, name := context.SplitScope(p)
		if vars[i] = ctx.GetVariableByScopeAndName(scope, name); vars[i] == nil {
			return nil, fmt.Errorf("lm: %s has no variable %s", m.Name, p)
		}
	}
	exec, err := context.NewExec(b, ctx.Checked(false), func(ctx *context.Context, x, y *graph.Node) []*graph.Node {
		loss := graph.ReduceAllMean(crossEntropyGraph(m.Build(ctx, x), y))
		nodes := make([]*graph.Node, len(vars))
		for i, v := range vars {
			nodes[i] = v.ValueGraph(x.Graph())
		}
		return graph.Gradient(loss, nodes...)
	})
	if err != nil {
		return nil, err
	}
	defer exec.Finalize()
	x, y := batchTensors(windows, m.Context)
	defer finalize(x, y)
	res, err := exec.Exec(x, y)
	if err != nil {
		return nil, fmt.Errorf("lm: gradients of %s: %w", m.Name, err)
	}
	out := make([][]float32, len(res))
	for i, r := range res {
		out[i] = tensors.MustCopyFlatData[float32](r)
		r.FinalizeAll()
	}
	return out, nil
}

// setLearningRate sets Adam's learning-rate variable (created by the first step).
func setLearningRate(ctx *context.Context, lr float64) error {
	v := ctx.GetVariableByScopeAndName(context.ScopeSeparator+optimizers.Scope, optimizers.ParamLearningRate)
	if v == nil {
		return errors.New("lm: the optimizer has no learning-rate variable to schedule")
	}
	if err := v.SetValue(tensors.FromAnyValue(shapes.CastAsDType(lr, v.Shape().DType))); err != nil {
		return fmt.Errorf("lm: setting learning rate: %w", err)
	}
	return nil
}

// Inputs turns windows of at least t bytes into what a model reads: their first t bytes as
// float32 [n, t] (e.g. calibration data for oneshot.PruneProgram).
func Inputs(windows [][]byte, t int) *tensors.Tensor {
	xs := make([]float32, len(windows)*t)
	for i, w := range windows {
		for j := range t {
			xs[i*t+j] = float32(w[j])
		}
	}
	return tensors.FromFlatDataAndDimensions(xs, len(windows), t)
}

// batchTensors turns windows of t+1 bytes into inputs, float32 [n, t] (the first t bytes, [Inputs]),
// and targets, int32 [n, t] (the last t).
func batchTensors(windows [][]byte, t int) (x, y *tensors.Tensor) {
	ys := make([]int32, len(windows)*t)
	for i, w := range windows {
		for j := range t {
			ys[i*t+j] = int32(w[j+1])
		}
	}
	return Inputs(windows, t), tensors.FromFlatDataAndDimensions(ys, len(windows), t)
}

// crossEntropyGraph is −log softmax(logits)[target] for logits [..., 256] and int32 targets [...].
func crossEntropyGraph(logits, targets *graph.Node) *graph.Node {
	oneHot := graph.OneHot(targets, logits.Shape().Dimensions[logits.Rank()-1], logits.DType())
	return graph.Neg(graph.ReduceSum(graph.Mul(graph.LogSoftmax(logits, -1), oneHot), -1))
}

func finalize(ts ...*tensors.Tensor) {
	for _, t := range ts {
		t.FinalizeAll()
	}
}
