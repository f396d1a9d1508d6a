package training

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// LRSchedule gives the learning rate for an optimizer step (0-based). Implementations are plain values.
type LRSchedule interface {
	LearningRate(step int) float64
}

// LRFunc adapts a function to [LRSchedule].
type LRFunc func(step int) float64

// LearningRate implements [LRSchedule].
func (f LRFunc) LearningRate(step int) float64 { return f(step) }

// ConstantLR is a fixed learning rate.
type ConstantLR float64

// LearningRate implements [LRSchedule].
func (c ConstantLR) LearningRate(int) float64 { return float64(c) }

// StepDecayLR multiplies Base by Gamma at each milestone step (as torch.optim.lr_scheduler.MultiStepLR),
// e.g. the ResNet-20 CIFAR schedule: Base 0.1, Gamma 0.1 at 32k and 48k steps (He et al. 2016).
type StepDecayLR struct {
	Base       float64
	Gamma      float64
	Milestones []int
}

// LearningRate implements [LRSchedule].
func (s StepDecayLR) LearningRate(step int) float64 {
	lr := s.Base
	for _, m := range s.Milestones {
		if step >= m {
			lr *= s.Gamma
		}
	}
	return lr
}

// CosineLR anneals from Base to Min over Steps after WarmupSteps of linear warm-up from 0
// (Loshchilov & Hutter 2017, without restarts). After Steps it stays at Min.
type CosineLR struct {
	Base, Min          float64
	WarmupSteps, Steps int
}

// LearningRate implements [LRSchedule].
func (c CosineLR) LearningRate(step int) float64 {
	if step < c.WarmupSteps {
		return c.Base * float64(step+1) / float64(c.WarmupSteps)
	}
	span := c.Steps - c.WarmupSteps
	if span <= 0 || step >= c.Steps {
		return c.Min
	}
	t := float64(step-c.WarmupSteps) / float64(span)
	return c.Min + (c.Base-c.Min)*(1+math.Cos(math.Pi*t))/2
}

// ParseLRSchedule reads a schedule as the CLI writes it: "constant", "cosine" (to 0 over totalSteps),
// "cosine:500" or "cosine:500it" (the same after 500 steps of linear warm-up from 0, [CosineLR]'s
// WarmupSteps), or "step:0.1@32000,48000" (gamma 0.1 at those steps).
func ParseLRSchedule(s string, base float64, totalSteps int) (LRSchedule, error) {
	switch {
	case s == "" || s == "constant":
		return ConstantLR(base), nil
	case s == "cosine":
		return CosineLR{Base: base, Steps: totalSteps}, nil
	case strings.HasPrefix(s, "cosine:"):
		w := strings.TrimSuffix(s[len("cosine:"):], "it")
		n, err := strconv.Atoi(w)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("training: lr schedule %q: want cosine:WARMUP_STEPS such as cosine:500", s)
		}
		if n >= totalSteps && totalSteps > 0 {
			return nil, fmt.Errorf("training: lr schedule %q: %d warm-up steps leave none of the %d for the cosine", s, n, totalSteps)
		}
		return CosineLR{Base: base, WarmupSteps: n, Steps: totalSteps}, nil
	case len(s) > 5 && s[:5] == "step:":
		var gamma float64
		var rest string
		if _, err := fmt.Sscanf(s[5:], "%g@%s", &gamma, &rest); err != nil {
			return nil, fmt.Errorf("training: lr schedule %q: want step:GAMMA@STEP1,STEP2", s)
		}
		sd := StepDecayLR{Base: base, Gamma: gamma}
		for _, f := range strings.FieldsFunc(rest, func(r rune) bool { return r == ',' }) {
			var m int
			if _, err := fmt.Sscanf(f, "%d", &m); err != nil || m < 0 {
				return nil, fmt.Errorf("training: lr schedule %q: bad milestone %q", s, f)
			}
			sd.Milestones = append(sd.Milestones, m)
		}
		return sd, nil
	}
	return nil, fmt.Errorf("training: unknown lr schedule %q (known: constant, cosine, cosine:WARMUP_STEPS, step:GAMMA@STEPS)", s)
}
