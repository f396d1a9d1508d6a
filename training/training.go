package training

import (
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/train"
	"github.com/gomlx/gomlx/pkg/ml/train/losses"
	"github.com/gomlx/gomlx/pkg/ml/train/metrics"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"

	"github.com/prunelab/prunelab/backend"
	"github.com/prunelab/prunelab/datasets"
	"github.com/prunelab/prunelab/internal/gomlxfix"
	"github.com/prunelab/prunelab/models"
)

// Optimizer names accepted by [Config].Optimizer.
const (
	Adam     = "adam"
	SGD      = "sgd"
	Momentum = "momentum"
)

// Config holds everything that changes how a model trains. The zero value of each field means the
// default given in its comment, which is the Lottery Ticket setup for LeNet-300-100.
type Config struct {
	// Model is the model to train (its Build function; Name is used in messages).
	Model models.Model
	// Optimizer is "adam" (default), "sgd" or "momentum" (SGD with momentum).
	Optimizer string
	// LearningRate is the base learning rate; default 1.2e-3 for Adam, 0.1 for SGD and momentum.
	LearningRate float64
	// LRSchedule, when set, overrides LearningRate at every step.
	LRSchedule LRSchedule
	// Momentum for the "momentum" optimizer; default 0.9.
	Momentum float64
	// Nesterov switches the "momentum" optimizer to Nesterov momentum.
	Nesterov bool
	// WeightDecay is L2 weight decay (AdamW-style decoupled for Adam); default 0.
	WeightDecay float64
	// BatchSize for training; default 60.
	BatchSize int
	// EvalBatchSize for evaluation; default 1000.
	EvalBatchSize int
	// EvalEvery evaluates every that many steps (and at the end); 0 evaluates once per epoch.
	EvalEvery int
	// EvalAtStart also evaluates before the first step (step 0).
	EvalAtStart bool
	// Normalization of the pixels; the zero value scales them to [0, 1] as the PyTorch peer does.
	Normalization datasets.Normalization
	// Seed drives initialization and the data order: the same seed gives the same numbers on the
	// same backend. Default 0 is a valid seed like any other.
	Seed int64
	// Progress shows GoMLX's progress bar when standard output is a terminal or a notebook.
	Progress bool
	// Log receives one line per evaluation; nil is silent.
	Log io.Writer
}

func (c Config) withDefaults() Config {
	if c.Optimizer == "" {
		c.Optimizer = Adam
	}
	if c.LearningRate == 0 {
		c.LearningRate = 1.2e-3
		if c.Optimizer != Adam {
			c.LearningRate = 0.1
		}
	}
	if c.Optimizer == Momentum && c.Momentum == 0 {
		c.Momentum = 0.9
	}
	if c.BatchSize == 0 {
		c.BatchSize = 60
	}
	if c.EvalBatchSize == 0 {
		c.EvalBatchSize = 1000
	}
	return c
}

func (c Config) validate() error {
	switch {
	case c.Model.Build == nil:
		return errors.New("training: Config.Model has no Build function")
	case c.BatchSize < 1 || c.EvalBatchSize < 1:
		return fmt.Errorf("training: batch sizes must be positive, got %d and %d", c.BatchSize, c.EvalBatchSize)
	case c.LearningRate <= 0 || math.IsNaN(c.LearningRate):
		return fmt.Errorf("training: learning rate must be positive, got %g", c.LearningRate)
	case c.EvalEvery < 0:
		return fmt.Errorf("training: EvalEvery must be >= 0, got %d", c.EvalEvery)
	}
	switch c.Optimizer {
	case Adam, SGD, Momentum:
	default:
		return fmt.Errorf("training: unknown optimizer %q (known: adam, sgd, momentum)", c.Optimizer)
	}
	return nil
}

// StepHook runs after each optimizer step with the number of steps done so far in the session
// (1 after the first). Pruning drivers use it to update masks; an error stops training.
type StepHook func(step int) error

// Session trains one model: its GoMLX context (variables, masks, optimizer state), trainer and
// data streams. It is not safe for concurrent use.
type Session struct {
	cfg     Config
	backend backends.Backend
	ctx     *context.Context
	opt     optimizers.Interface
	trainer *train.Trainer
	build   models.BuildFn
	hooks   []StepHook

	trainData  *datasets.Images
	trainBatch *datasets.Batches
	evalBatch  map[*datasets.Images]*datasets.Batches
	step       int
	lastLR     float64
}

// NewSession prepares a session on the process-wide backend ([backend.Default]) with GoMLX's gradient
// workarounds installed ([gomlxfix.Install]). Variables are created on the first step or evaluation.
func NewSession(cfg Config) (*Session, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	b, err := backend.Default()
	if err != nil {
		return nil, err
	}
	gomlxfix.Install()
	ctx := context.New()
	ctx.SetParam(context.ParamInitialSeed, cfg.Seed)
	if cfg.Model.Init != nil {
		if err := cfg.Model.Init(ctx); err != nil {
			return nil, fmt.Errorf("training: model %s: %w", cfg.Model.Name, err)
		}
	}
	s := &Session{cfg: cfg, backend: b, ctx: ctx, build: cfg.Model.Build, evalBatch: map[*datasets.Images]*datasets.Batches{}}
	s.opt = s.newOptimizer()
	s.resetTrainer()
	return s, nil
}

func (s *Session) newOptimizer() optimizers.Interface {
	lr := s.cfg.LearningRate
	if s.cfg.LRSchedule != nil {
		lr = s.cfg.LRSchedule.LearningRate(0)
	}
	s.lastLR = lr
	switch s.cfg.Optimizer {
	case SGD, Momentum:
		return SGDMomentum{LearningRate: lr, Momentum: s.cfg.Momentum, Nesterov: s.cfg.Nesterov, WeightDecay: s.cfg.WeightDecay}
	default:
		// Epsilon 1e-8 as PyTorch's Adam (GoMLX's default is 1e-7).
		a := optimizers.Adam().LearningRate(lr).Epsilon(1e-8)
		if s.cfg.WeightDecay != 0 {
			a = a.WeightDecay(s.cfg.WeightDecay)
		}
		return a.Done()
	}
}

// resetTrainer (re)creates the GoMLX trainer around the current model function; compiled graphs are dropped.
func (s *Session) resetTrainer() {
	build := s.build
	modelFn := func(ctx *context.Context, _ any, inputs []*graph.Node) []*graph.Node {
		// Unchecked: variables may already exist (restored from a checkpoint) or not (first build).
		return []*graph.Node{build(ctx.Checked(false), inputs[0])}
	}
	s.trainer = train.NewTrainer(s.backend, s.ctx, modelFn, losses.SparseCategoricalCrossEntropyLogits, s.opt,
		nil, []metrics.Interface{metrics.NewSparseCategoricalAccuracy("Accuracy", "acc")})
}

// Context is the session's GoMLX context: model variables, pruning masks and optimizer state.
func (s *Session) Context() *context.Context { return s.ctx }

// Backend is the backend the session computes on.
func (s *Session) Backend() backends.Backend { return s.backend }

// Config is the session's configuration with defaults filled in.
func (s *Session) Config() Config { return s.cfg }

// Step is the number of optimizer steps done in this session.
func (s *Session) Step() int { return s.step }

// Optimizer is the session's optimizer (e.g. to Clear its state when rewinding weights).
func (s *Session) Optimizer() optimizers.Interface { return s.opt }

// SetModel replaces the model function (e.g. with one wrapped by the pruning package) and drops
// compiled graphs so the next step uses it. Variables are kept.
func (s *Session) SetModel(build models.BuildFn) {
	s.build = build
	s.resetTrainer()
}

// OnStep adds a hook run after every optimizer step.
func (s *Session) OnStep(h StepHook) { s.hooks = append(s.hooks, h) }

// ResetOptimizer deletes the optimizer state (Adam moments, momentum buffers, step counters) and
// restarts the learning-rate schedule, as when rewinding weights between pruning rounds.
func (s *Session) ResetOptimizer() error {
	if err := s.opt.Clear(s.ctx); err != nil {
		return fmt.Errorf("training: clearing optimizer state: %w", err)
	}
	if err := optimizers.DeleteGlobalStep(s.ctx); err != nil {
		return fmt.Errorf("training: clearing global step: %w", err)
	}
	s.step = 0
	s.opt = s.newOptimizer()
	s.resetTrainer()
	return nil
}

// SetTrainData sets the images to train on and restarts the data order: epoch e of a session always
// sees the same seeded permutation.
func (s *Session) SetTrainData(im *datasets.Images) error {
	b, err := datasets.NewBatches(im, datasets.BatchConfig{
		BatchSize: s.cfg.BatchSize, Shuffle: true, Seed: s.cfg.Seed, DropRemainder: true, Loop: true,
		Normalization: s.cfg.Normalization,
	})
	if err != nil {
		return fmt.Errorf("training: %w", err)
	}
	s.trainData, s.trainBatch = im, b
	return nil
}

// StepsPerEpoch is the number of optimizer steps in one epoch of the training data (0 before SetTrainData).
func (s *Session) StepsPerEpoch() int {
	if s.trainBatch == nil {
		return 0
	}
	return s.trainBatch.Steps()
}

// InitVariables creates and initializes the model's variables (and those of any wrapper, such as
// pruning masks) by running the model once on a zero batch of one example, without training.
// Initialization is seeded by Config.Seed exactly as on the first training step. It does nothing
// for variables that already exist.
func (s *Session) InitVariables() error {
	shape := shapes.Make(dtypes.Float32, append([]int{1}, s.cfg.Model.InputShape...)...)
	build := s.build
	exec, err := context.NewExec(s.backend, s.ctx, func(ctx *context.Context, x *graph.Node) *graph.Node {
		return build(ctx.Checked(false), x)
	})
	if err != nil {
		return fmt.Errorf("training: %s: %w", s.cfg.Model.Name, err)
	}
	out, err := exec.Exec(tensors.FromShape(shape))
	if err != nil {
		return fmt.Errorf("training: initializing %s: %w", s.cfg.Model.Name, err)
	}
	for _, t := range out {
		t.FinalizeAll()
	}
	return nil
}

// SkipSteps advances the training data stream by n batches without training, so a run rewound to
// step n sees the same data order as the original run from there on.
func (s *Session) SkipSteps(n int) error {
	if s.trainBatch == nil {
		return errors.New("training: SkipSteps called before SetTrainData")
	}
	for range n {
		_, inputs, labels, err := s.trainBatch.Yield()
		if err != nil {
			return fmt.Errorf("training: skipping data: %w", err)
		}
		for _, t := range append(inputs, labels...) {
			t.FinalizeAll()
		}
	}
	return nil
}
