package pruning

import (
	"fmt"
	"math"
)

// Schedule says, for a training step, which sparsity the masks should have and whether masks are
// updated at that step. Steps count completed optimizer steps (GoMLX's global step: 1 after the
// first step); step 0 is before training. Schedules are plain values, easy to print and test
// (JaxPruner's sparsity schedules).
type Schedule interface {
	// SparsityAt returns the target sparsity of the masks after the update (if any) at step.
	SparsityAt(step int) float64
	// IsUpdateStep reports whether masks are updated at step.
	IsUpdateStep(step int) bool
}

// OneShot prunes once, at Step, to Sparsity.
type OneShot struct {
	Step     int
	Sparsity float64
}

// SparsityAt implements Schedule.
func (s OneShot) SparsityAt(step int) float64 {
	if step < s.Step {
		return 0
	}
	return s.Sparsity
}

// IsUpdateStep implements Schedule.
func (s OneShot) IsUpdateStep(step int) bool { return step == s.Step }

// Validate checks the parameters: Sparsity in [0, 1), Step ≥ 0.
func (s OneShot) Validate() error {
	switch {
	case !validFraction(s.Sparsity):
		return fmt.Errorf("%w: one-shot schedule: sparsity %g is not in [0, 1)", ErrInvalidAmount, s.Sparsity)
	case s.Step < 0:
		return fmt.Errorf("%w: one-shot schedule: step %d is negative", ErrInvalidAmount, s.Step)
	}
	return nil
}

// Iterative is iterative magnitude pruning's schedule: Cycles prune-and-fine-tune cycles, the
// first pruning at Start and one every Every steps after it, each removing Rate of the weights
// that remain, so after k cycles (1−Rate)^k of the weights remain. NewIterative derives Rate
// from a final sparsity.
//
// Reference: Han et al., NeurIPS 2015 (iterative pruning); Frankle & Carbin, "The Lottery Ticket
// Hypothesis", ICLR 2019 (p% of the remaining weights per round).
type Iterative struct {
	Start, Every, Cycles int
	Rate                 float64
}

// NewIterative returns the Iterative schedule reaching final sparsity in cycles cycles:
// Rate = 1 − (1−final)^(1/cycles).
func NewIterative(start, every, cycles int, final float64) Iterative {
	rate := 0.0
	if cycles > 0 {
		rate = 1 - math.Pow(1-final, 1/float64(cycles))
	}
	return Iterative{Start: start, Every: every, Cycles: cycles, Rate: rate}
}

// cyclesDone returns how many prunings happened at or before step.
func (s Iterative) cyclesDone(step int) int {
	if step < s.Start || s.Cycles <= 0 {
		return 0
	}
	if s.Every <= 0 {
		return 1
	}
	return min(s.Cycles, (step-s.Start)/s.Every+1)
}

// SparsityAt implements Schedule: 1 − (1−Rate)^k after k cycles.
func (s Iterative) SparsityAt(step int) float64 {
	k := s.cyclesDone(step)
	if k == 0 {
		return 0
	}
	return 1 - math.Pow(1-s.Rate, float64(k))
}

// IsUpdateStep implements Schedule.
func (s Iterative) IsUpdateStep(step int) bool {
	if step < s.Start || s.Cycles <= 0 {
		return false
	}
	if s.Every <= 0 {
		return step == s.Start
	}
	d := step - s.Start
	return d%s.Every == 0 && d/s.Every < s.Cycles
}

// Validate checks the parameters: Rate in [0, 1), Start and Cycles ≥ 0, Every > 0 for more than
// one cycle.
func (s Iterative) Validate() error {
	switch {
	case !validFraction(s.Rate):
		return fmt.Errorf("%w: iterative schedule: rate %g is not in [0, 1)", ErrInvalidAmount, s.Rate)
	case s.Start < 0 || s.Cycles < 0:
		return fmt.Errorf("%w: iterative schedule: start %d and cycles %d must not be negative", ErrInvalidAmount,
			s.Start, s.Cycles)
	case s.Cycles > 1 && s.Every <= 0:
		return fmt.Errorf("%w: iterative schedule: %d cycles need a positive interval, got every %d", ErrInvalidAmount,
			s.Cycles, s.Every)
	}
	return nil
}

// Polynomial is gradual pruning: from Initial sparsity at step Begin to Final at step End,
// updating masks every Frequency steps (and at End), following
//
//	s_t = Final + (Initial − Final)·(1 − (t−Begin)/(End−Begin))^Power
//
// with Power 3 when zero: fast pruning early, when redundancy is high, slower near the end.
// Between updates the sparsity stays at the last update's value; before Begin it is 0.
//
// Reference: Zhu & Gupta, "To prune, or not to prune: exploring the efficacy of pruning for model
// compression", ICLR Workshop 2018 (arXiv 1710.01878, 2017).
type Polynomial struct {
	Initial, Final        float64
	Begin, End, Frequency int
	Power                 float64
}

func (s Polynomial) power() float64 {
	if s.Power == 0 {
		return 3
	}
	return s.Power
}

// lastUpdate returns the last update step at or before step, or -1 if none.
func (s Polynomial) lastUpdate(step int) int {
	if step < s.Begin {
		return -1
	}
	if step >= s.End {
		return s.End
	}
	f := max(1, s.Frequency)
	return s.Begin + (step-s.Begin)/f*f
}

// SparsityAt implements Schedule.
func (s Polynomial) SparsityAt(step int) float64 {
	t := s.lastUpdate(step)
	if t < 0 {
		return 0
	}
	if s.End <= s.Begin {
		return s.Final
	}
	progress := float64(t-s.Begin) / float64(s.End-s.Begin)
	return s.Final + (s.Initial-s.Final)*math.Pow(1-progress, s.power())
}

// IsUpdateStep implements Schedule.
func (s Polynomial) IsUpdateStep(step int) bool {
	if step < s.Begin || step > s.End {
		return false
	}
	return step == s.End || (step-s.Begin)%max(1, s.Frequency) == 0
}

// Validate checks the parameters: Initial and Final in [0, 1), 0 ≤ Begin ≤ End, Frequency and
// Power ≥ 0.
func (s Polynomial) Validate() error {
	switch {
	case !validFraction(s.Initial) || !validFraction(s.Final):
		return fmt.Errorf("%w: polynomial schedule: initial %g and final %g sparsities must be in [0, 1)",
			ErrInvalidAmount, s.Initial, s.Final)
	case s.Begin < 0:
		return fmt.Errorf("%w: polynomial schedule: begin step %d is negative", ErrInvalidAmount, s.Begin)
	case s.End < s.Begin:
		return fmt.Errorf("%w: polynomial schedule: end step %d precedes begin step %d", ErrInvalidAmount, s.End,
			s.Begin)
	case s.Frequency < 0 || s.Power < 0:
		return fmt.Errorf("%w: polynomial schedule: frequency %d and power %g must not be negative",
			ErrInvalidAmount, s.Frequency, s.Power)
	}
	return nil
}

// ValidateSchedule checks a schedule's parameters if it has a Validate method (the schedules
// of this package do), and that it is not nil.
func ValidateSchedule(s Schedule) error {
	if s == nil {
		return fmt.Errorf("%w: nil schedule", ErrInvalidAmount)
	}
	if v, ok := s.(interface{ Validate() error }); ok {
		return v.Validate()
	}
	return nil
}

// UpdateSteps lists the update steps of s in [from, to].
func UpdateSteps(s Schedule, from, to int) []int {
	var steps []int
	for t := from; t <= to; t++ {
		if s.IsUpdateStep(t) {
			steps = append(steps, t)
		}
	}
	return steps
}
