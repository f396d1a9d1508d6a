package training

import (
	"errors"
	"fmt"
	"math"
	"os"
	"time"

	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/checkpoints"
	"github.com/gomlx/gomlx/pkg/ml/train"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"
	"github.com/gomlx/gomlx/ui/commandline"
	"github.com/gomlx/gomlx/ui/notebooks"
	"golang.org/x/term"

	"github.com/prunelab/prunelab/datasets"
)

// Metrics are the results of one evaluation.
type Metrics struct {
	Loss     float64 `json:"loss"`
	Accuracy float64 `json:"accuracy"`
}

// EvalSet names images to evaluate on during training, e.g. {"validation", val}.
type EvalSet struct {
	Name   string
	Images *datasets.Images
}

// Point is one evaluation in a [History].
type Point struct {
	Step  int    `json:"step"`
	Split string `json:"split"`
	Metrics
}

// History is every evaluation of a training run, in order.
type History []Point

// Split returns the points of one evaluation set, in step order.
func (h History) Split(name string) History {
	var out History
	for _, p := range h {
		if p.Split == name {
			out = append(out, p)
		}
	}
	return out
}

// At returns the metrics of split at step.
func (h History) At(split string, step int) (Metrics, bool) {
	for _, p := range h {
		if p.Split == split && p.Step == step {
			return p.Metrics, true
		}
	}
	return Metrics{}, false
}

// EarlyStopStep is the step with the minimum loss on split (the early-stopping iteration of Frankle &
// Carbin 2019, who use the validation loss); the earliest one on ties. ok is false if split has no points.
func (h History) EarlyStopStep(split string) (step int, ok bool) {
	best := math.Inf(1)
	for _, p := range h {
		if p.Split == split && p.Loss < best {
			best, step, ok = p.Loss, p.Step, true
		}
	}
	return step, ok
}

// Result summarizes a call to [Session.Train].
type Result struct {
	// Steps run in this call, and the session's step count at its end.
	Steps, EndStep int
	// Duration of the call (training and evaluation), and of the training steps alone.
	Duration, TrainDuration time.Duration
	// StepDurations holds each step's wall time (the first includes compiling the graph).
	StepDurations []time.Duration
	// FirstStepDuration is the time of the call's first step, which includes compiling the graph.
	FirstStepDuration time.Duration
	// History of evaluations during the call.
	History History
	// Final holds the metrics of each evaluation set at the end.
	Final map[string]Metrics
}

// Train runs length optimizer steps on the data given by [Session.SetTrainData], evaluating every
// Config.EvalEvery steps (or once per epoch) and at the end on each of evals.
func (s *Session) Train(length Length, evals ...EvalSet) (*Result, error) {
	if s.trainBatch == nil {
		return nil, errors.New("training: Train called before SetTrainData")
	}
	steps := length.StepsFor(s.trainBatch.Steps())
	every := s.cfg.EvalEvery
	if every == 0 {
		every = s.trainBatch.Steps()
	}
	res := &Result{Final: map[string]Metrics{}}
	start := time.Now()
	evaluate := func(step int) error {
		for _, e := range evals {
			m, err := s.Evaluate(e.Images)
			if err != nil {
				return fmt.Errorf("training: evaluating %s at step %d: %w", e.Name, step, err)
			}
			res.History = append(res.History, Point{Step: step, Split: e.Name, Metrics: m})
			res.Final[e.Name] = m
			if s.cfg.Log != nil {
				fmt.Fprintf(s.cfg.Log, "step %6d  %-10s loss %.4f  accuracy %.2f%%\n", step, e.Name, m.Loss, 100*m.Accuracy)
			}
		}
		return nil
	}
	if s.cfg.EvalAtStart && s.step == 0 {
		if err := evaluate(0); err != nil {
			return nil, err
		}
	}
	if steps > 0 {
		// The first step runs at the schedule's rate for this step too, also after Load (the
		// checkpoint holds the rate its run last used) and when the schedule changed meanwhile.
		if s.cfg.LRSchedule != nil && s.lrVariable() != nil {
			s.lastLR = math.NaN()
			if err := s.applySchedule(); err != nil {
				return nil, err
			}
		}
		loop := train.NewLoop(s.trainer)
		if s.cfg.Progress && (notebooks.IsNotebook() || term.IsTerminal(int(os.Stdout.Fd()))) {
			commandline.AttachProgressBar(loop)
		}
		var trainTime time.Duration
		stepStart := time.Now()
		loop.OnStep("prunelab", 0, func(_ *train.Loop, _ []*tensors.Tensor) error {
			s.step++
			res.Steps++
			took := time.Since(stepStart)
			trainTime += took
			res.StepDurations = append(res.StepDurations, took)
			if res.Steps == 1 {
				res.FirstStepDuration = took
			}
			if err := s.applySchedule(); err != nil {
				return err
			}
			for _, h := range s.hooks {
				if err := h(s.step); err != nil {
					return err
				}
			}
			if res.Steps%every == 0 || res.Steps == steps {
				if err := evaluate(s.step); err != nil {
					return err
				}
			}
			stepStart = time.Now()
			return nil
		})
		if _, err := loop.RunSteps(s.trainBatch, steps); err != nil {
			return nil, fmt.Errorf("training: %s at step %d: %w", s.cfg.Model.Name, s.step, err)
		}
		res.TrainDuration = trainTime
	} else if len(evals) > 0 && len(res.History) == 0 {
		if err := evaluate(s.step); err != nil {
			return nil, err
		}
	}
	res.EndStep = s.step
	res.Duration = time.Since(start)
	return res, nil
}

// lrVariable returns the optimizer's learning-rate variable, nil before the first step creates it.
func (s *Session) lrVariable() *context.Variable {
	return s.ctx.GetVariableByScopeAndName(context.ScopeSeparator+optimizers.Scope, optimizers.ParamLearningRate)
}

// applySchedule sets the learning rate of the next step from Config.LRSchedule.
func (s *Session) applySchedule() error {
	if s.cfg.LRSchedule == nil {
		return nil
	}
	lr := s.cfg.LRSchedule.LearningRate(s.step)
	if lr == s.lastLR {
		return nil
	}
	v := s.lrVariable()
	if v == nil {
		return errors.New("training: the optimizer has no learning-rate variable to schedule")
	}
	if err := v.SetValue(tensors.FromAnyValue(shapes.CastAsDType(lr, v.Shape().DType))); err != nil {
		return fmt.Errorf("training: setting learning rate: %w", err)
	}
	s.lastLR = lr
	return nil
}

// Evaluate returns the mean loss and accuracy of the model on im (batches of Config.EvalBatchSize,
// in order, the last one partial).
func (s *Session) Evaluate(im *datasets.Images) (Metrics, error) {
	b, ok := s.evalBatch[im]
	if !ok {
		var err error
		b, err = datasets.NewBatches(im, datasets.BatchConfig{
			BatchSize: s.cfg.EvalBatchSize, Normalization: s.cfg.Normalization,
		})
		if err != nil {
			return Metrics{}, fmt.Errorf("training: %w", err)
		}
		s.evalBatch[im] = b
	}
	out, err := s.trainer.Eval(b)
	if err != nil {
		return Metrics{}, err
	}
	// Eval metrics: mean loss+regularization, mean loss, accuracy.
	m := Metrics{Loss: scalar(out[1]), Accuracy: scalar(out[2])}
	for _, t := range out {
		t.FinalizeAll()
	}
	return m, nil
}

func scalar(t *tensors.Tensor) float64 {
	return shapes.ConvertTo[float64](t.Value())
}

// Save writes a checkpoint of every variable (weights, masks, optimizer state) into dir, keeping the
// newest keep checkpoints there (all if keep <= 0). Saving into a directory that holds checkpoints
// already (a run saved again, a notebook rerun) adds a newer one and never changes the session.
func (s *Session) Save(dir string, keep int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		// GoMLX v0.26.0's checkpoint builder drops errors recorded before Done(): check the directory here.
		return fmt.Errorf("training: checkpoint directory: %w", err)
	}
	cfg := checkpoints.Build(s.ctx).Dir(dir)
	if keep > 0 {
		cfg = cfg.Keep(keep)
	} else {
		cfg = cfg.Keep(-1)
	}
	// GoMLX v0.26.0's checkpoints.Config.Done loads the newest checkpoint found in dir into the
	// context, overwriting the live variables and params that are about to be saved. So take a copy
	// of them first, put it back after Done, and drop the loaded values of variables the session
	// does not have (Save would write them out again).
	live, err := s.snapshot()
	if err != nil {
		return fmt.Errorf("training: saving checkpoint in %s: %w", dir, err)
	}
	h, err := cfg.Done()
	if err != nil {
		return fmt.Errorf("training: checkpoint %s: %w", dir, err)
	}
	clear(h.LoadedVariables())
	if err := live.restore(s.ctx); err != nil {
		return fmt.Errorf("training: saving checkpoint in %s: %w", dir, err)
	}
	if err := h.Save(); err != nil {
		return fmt.Errorf("training: saving checkpoint in %s: %w", dir, err)
	}
	return nil
}

// sessionState is a copy of a context's variable values and params.
type sessionState struct {
	values map[*context.Variable]*tensors.Tensor
	params []contextParam
}

type contextParam struct {
	scope, name string
	value       any
}

// snapshot copies the values of the session's variables (to local memory) and its params.
func (s *Session) snapshot() (*sessionState, error) {
	st := &sessionState{values: map[*context.Variable]*tensors.Tensor{}}
	for v := range s.ctx.IterVariables() {
		if !v.HasValue() {
			continue
		}
		value, err := v.Value()
		if err != nil {
			return nil, fmt.Errorf("reading variable %s: %w", v.ScopeAndName(), err)
		}
		clone, err := value.LocalClone()
		if err != nil {
			return nil, fmt.Errorf("copying variable %s: %w", v.ScopeAndName(), err)
		}
		st.values[v] = clone
	}
	s.ctx.EnumerateParams(func(scope, name string, value any) {
		st.params = append(st.params, contextParam{scope, name, value})
	})
	return st, nil
}

// restore sets the variables and params of ctx back to the snapshot.
func (st *sessionState) restore(ctx *context.Context) error {
	for v, value := range st.values {
		if err := v.SetValue(value); err != nil {
			return fmt.Errorf("restoring variable %s: %w", v.ScopeAndName(), err)
		}
	}
	for _, p := range st.params {
		ctx.InAbsPath(p.scope).SetParam(p.name, p.value)
	}
	return nil
}

// Load restores the newest checkpoint in dir into the session's variables.
func (s *Session) Load(dir string) error {
	if _, err := os.Stat(dir); err != nil {
		return fmt.Errorf("training: checkpoint directory: %w", err)
	}
	if _, err := checkpoints.Load(s.ctx).Dir(dir).Immediate().Done(); err != nil {
		return fmt.Errorf("training: loading checkpoint from %s: %w", dir, err)
	}
	s.step = int(optimizers.GetGlobalStep(s.ctx))
	s.resetTrainer()
	return nil
}
