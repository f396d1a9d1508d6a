package pruning

import (
	"fmt"

	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/train"
)

// Driver runs a schedule during training: the training loop calls [Driver.AfterStep] after each
// optimizer step and the driver updates the masks when the schedule says so, with any criterion,
// structure and allocation. Masks change through variables, so no graph is recompiled.
type Driver struct {
	ctx      *context.Context
	schedule Schedule
	cfg      Config
	pruner   *pruner

	// AccumulateEvery, when > 0 and the criterion is an [AccumulatingCriterion] (movement,
	// Taylor), makes the driver draw one gradient batch from Config.Gradients every
	// AccumulateEvery steps and accumulate the criterion's statistic; at an update the scores use
	// the sum since the previous update (then reset). Each accumulation costs one extra
	// forward/backward pass.
	AccumulateEvery int

	acc       *accumulated
	history   []*Result
	validated bool
}

// NewDriver returns a driver pruning the masked variables of ctx on schedule s as cfg says.
// The schedule is checked ([ValidateSchedule]) at the first [Driver.AfterStep].
func NewDriver(ctx *context.Context, s Schedule, cfg Config) *Driver {
	return &Driver{ctx: ctx, schedule: s, cfg: cfg, pruner: newPruner(cfg)}
}

// AfterStep is called by the training loop after optimizer step number step (the global step: 1
// after the first step; call it with 0 before training for a schedule that prunes at step 0).
// When step is an update step it prunes to Schedule.SparsityAt(step) (a target sparsity) and
// reports updated = true.
func (d *Driver) AfterStep(step int) (updated bool, err error) {
	if !d.validated {
		if err := ValidateSchedule(d.schedule); err != nil {
			return false, err
		}
		d.validated = true
	}
	if d.AccumulateEvery > 0 && step > 0 && step%d.AccumulateEvery == 0 {
		if err := d.accumulate(); err != nil {
			return false, err
		}
	}
	if !d.schedule.IsUpdateStep(step) {
		return false, nil
	}
	a := Sparsity(d.schedule.SparsityAt(step))
	res, err := d.pruner.prune(d.ctx, a, d.acc)
	if err != nil {
		return false, fmt.Errorf("pruning: step %d: %w", step, err)
	}
	d.acc = nil
	d.history = append(d.history, res)
	return true, nil
}

// OnStep is a train.OnStepFn: register it with loop.OnStep("pruning", 0, driver.OnStep) to drive
// pruning from a train.Loop (it calls AfterStep(loop.LoopStep+1)).
func (d *Driver) OnStep(loop *train.Loop, _ []*tensors.Tensor) error {
	_, err := d.AfterStep(loop.LoopStep + 1)
	return err
}

// History returns the result of every update so far, oldest first.
func (d *Driver) History() []*Result { return d.history }

// accumulate adds one gradient batch's contribution to the accumulators.
func (d *Driver) accumulate() error {
	ac, ok := d.cfg.criterion().(AccumulatingCriterion)
	if !ok {
		return nil
	}
	if d.cfg.Gradients == nil {
		return ErrNoGradients
	}
	var targets []Target
	for _, t := range Targets(d.ctx) {
		skip, err := matchAny(d.cfg.Skip, t.Path())
		if err != nil {
			return err
		}
		if !skip {
			targets = append(targets, t)
		}
	}
	paths := make([]string, len(targets))
	for i, t := range targets {
		paths[i] = t.Path()
	}
	grads, err := d.cfg.Gradients.Gradients(paths)
	if err != nil {
		return err
	}
	if d.acc == nil {
		d.acc = &accumulated{sums: make(map[string][]float64)}
	}
	for _, t := range targets {
		w, _, err := weightAndMask(d.ctx, t.Path())
		if err != nil {
			return err
		}
		values, err := variableFloats(w)
		if err != nil {
			return err
		}
		g := grads[t.Path()]
		if len(g) != len(values) {
			return fmt.Errorf("pruning: gradient source returned %d values for %s (%d weights)", len(g), t.Path(),
				len(values))
		}
		sum := d.acc.sums[t.Path()]
		if sum == nil {
			sum = make([]float64, len(values))
			d.acc.sums[t.Path()] = sum
		}
		ac.Accumulate(sum, values, g)
	}
	d.acc.steps++
	return nil
}
