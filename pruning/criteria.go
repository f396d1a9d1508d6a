package pruning

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
)

// Criterion scores the weights of one prunable variable: the lower a weight's score, the earlier
// it is pruned. Scores are aggregated per group by the [Structure] and [Reduction] in use.
// Criteria are small, stateless values (like JaxPruner's algorithms, which only override the
// score); register your own with [RegisterCriterion] or pass a [CriterionFunc].
type Criterion interface {
	// Name identifies the criterion in the registry, reports and configs.
	Name() string
	// Scores returns one score per element of in.Weights (row-major).
	Scores(in *ScoreInput) ([]float64, error)
}

// ScoreInput is what a criterion may look at for one variable.
type ScoreInput struct {
	// Target is the variable being scored.
	Target Target
	// Weights are its current values, row-major; pruned weights are 0.
	Weights []float64
	// Mask is its current mask.
	Mask *Mask
	// Rand is a seeded source for stochastic criteria.
	Rand *rand.Rand
	// Accumulated is the running sum a [Driver] kept for an [AccumulatingCriterion] over the
	// AccumulatedSteps training steps since the last mask update (nil otherwise).
	Accumulated      []float64
	AccumulatedSteps int

	grads func(path string) ([][]float64, error)
}

// Gradients returns the gradients of the loss with respect to this variable, one slice per batch
// (row-major, like Weights), computed through the [Config.Gradients] source on first use: one pass
// over [Config.GradientBatches] batches for all variables together. It returns [ErrNoGradients]
// if no source was configured. The gradient at a pruned position is the dense gradient (the
// weight is zero, its gradient generally is not).
func (in *ScoreInput) Gradients() ([][]float64, error) {
	if in.grads == nil {
		return nil, ErrNoGradients
	}
	return in.grads(in.Target.Path())
}

// CriterionFunc adapts a function to a [Criterion] named "func"; use [NewCriterion] to name it.
type CriterionFunc func(in *ScoreInput) ([]float64, error)

// Name implements Criterion.
func (f CriterionFunc) Name() string { return "func" }

// Scores implements Criterion.
func (f CriterionFunc) Scores(in *ScoreInput) ([]float64, error) { return f(in) }

type namedCriterion struct {
	name string
	fn   CriterionFunc
}

func (c namedCriterion) Name() string                             { return c.name }
func (c namedCriterion) Scores(in *ScoreInput) ([]float64, error) { return c.fn(in) }

// NewCriterion returns a Criterion with the given name scoring with fn.
func NewCriterion(name string, fn CriterionFunc) Criterion { return namedCriterion{name, fn} }

// AccumulatingCriterion is a criterion whose score is a sum over training steps; a [Driver]
// with AccumulateEvery set feeds it one gradient batch every so many steps, and passes the sum
// in [ScoreInput.Accumulated].
type AccumulatingCriterion interface {
	Criterion
	// Accumulate adds one step's contribution, from weights w and gradients g, to acc.
	Accumulate(acc, w, g []float64)
}

// MagnitudeCriterion scores each weight by its absolute value |w| (L1 magnitude).
//
// Reference: Han, Pool, Tran, Dally, "Learning both Weights and Connections for Efficient Neural
// Networks", NeurIPS 2015. Also the criterion of the Lottery Ticket Hypothesis (Frankle & Carbin,
// ICLR 2019).
type MagnitudeCriterion struct{}

// Name implements Criterion: "magnitude".
func (MagnitudeCriterion) Name() string { return "magnitude" }

// Scores implements Criterion.
func (MagnitudeCriterion) Scores(in *ScoreInput) ([]float64, error) {
	s := make([]float64, len(in.Weights))
	for i, w := range in.Weights {
		s[i] = math.Abs(w)
	}
	return s, nil
}

// RandomCriterion scores weights uniformly at random: the standard control of pruning studies.
//
// Reference: Frankle & Carbin, "The Lottery Ticket Hypothesis", ICLR 2019 (random pruning and
// random reinitialization controls); Liu et al., "Rethinking the Value of Network Pruning", ICLR 2019.
type RandomCriterion struct{}

// Name implements Criterion: "random".
func (RandomCriterion) Name() string { return "random" }

// Scores implements Criterion, drawing from in.Rand.
func (RandomCriterion) Scores(in *ScoreInput) ([]float64, error) {
	if in.Rand == nil {
		return nil, fmt.Errorf("pruning: random criterion: no random source")
	}
	s := make([]float64, len(in.Weights))
	for i := range s {
		s[i] = in.Rand.Float64()
	}
	return s, nil
}

// TaylorCriterion scores each weight by the first-order Taylor estimate of the change in loss
// when it is removed, |w·g|, averaged over the gradient batches: mean_b |w·g_b|.
//
// Reference: Molchanov, Tyree, Karras, Aila, Kautz, "Pruning Convolutional Neural Networks for
// Resource Efficient Inference", ICLR 2017 (arXiv 2016); Molchanov, Mallya, Tyree, Frosio, Kautz,
// "Importance Estimation for Neural Network Pruning", CVPR 2019.
type TaylorCriterion struct{}

// Name implements Criterion: "taylor".
func (TaylorCriterion) Name() string { return "taylor" }

// Accumulate implements AccumulatingCriterion: acc += |w·g|.
func (TaylorCriterion) Accumulate(acc, w, g []float64) {
	for i := range acc {
		acc[i] += math.Abs(w[i] * g[i])
	}
}

// Scores implements Criterion.
func (TaylorCriterion) Scores(in *ScoreInput) ([]float64, error) {
	if in.Accumulated != nil && in.AccumulatedSteps > 0 {
		s := make([]float64, len(in.Accumulated))
		for i, a := range in.Accumulated {
			s[i] = a / float64(in.AccumulatedSteps)
		}
		return s, nil
	}
	grads, err := in.Gradients()
	if err != nil {
		return nil, err
	}
	s := make([]float64, len(in.Weights))
	for _, g := range grads {
		for i, w := range in.Weights {
			s[i] += math.Abs(w * g[i])
		}
	}
	for i := range s {
		s[i] /= float64(len(grads))
	}
	return s, nil
}

// SNIPCriterion scores connection sensitivity at initialization, |g·w| with g the gradient
// averaged over the gradient batches, normalized to sum 1 over all variables pruned together.
// Use it one-shot, before training.
//
// Reference: Lee, Ajanthan, Torr, "SNIP: Single-shot Network Pruning based on Connection
// Sensitivity", ICLR 2019.
type SNIPCriterion struct{}

// Name implements Criterion: "snip".
func (SNIPCriterion) Name() string { return "snip" }

// Scores implements Criterion (unnormalized; the pruner divides by the total over all variables).
func (SNIPCriterion) Scores(in *ScoreInput) ([]float64, error) {
	grads, err := in.Gradients()
	if err != nil {
		return nil, err
	}
	s := make([]float64, len(in.Weights))
	for _, g := range grads {
		for i := range s {
			s[i] += g[i]
		}
	}
	for i, w := range in.Weights {
		s[i] = math.Abs(w * s[i] / float64(len(grads)))
	}
	return s, nil
}

// MovementCriterion scores weights by movement, −Σ w·g accumulated over gradient batches: weights
// moving away from zero during fine-tuning score high, weights moving towards zero low. With a
// [Driver], the sum runs over the fine-tuning steps between mask updates when
// [Driver.AccumulateEvery] is set, and over the GradientBatches at the update otherwise.
// Pair it with Config.Regrow for the original behaviour (masks recomputed from scores).
//
// Reference: Sanh, Wolf, Rush, "Movement Pruning: Adaptive Sparsity by Fine-Tuning", NeurIPS 2020.
type MovementCriterion struct{}

// Name implements Criterion: "movement".
func (MovementCriterion) Name() string { return "movement" }

// Accumulate implements AccumulatingCriterion: acc −= w·g.
func (MovementCriterion) Accumulate(acc, w, g []float64) {
	for i := range acc {
		acc[i] -= w[i] * g[i]
	}
}

// Scores implements Criterion.
func (MovementCriterion) Scores(in *ScoreInput) ([]float64, error) {
	if in.Accumulated != nil && in.AccumulatedSteps > 0 {
		return slices.Clone(in.Accumulated), nil
	}
	grads, err := in.Gradients()
	if err != nil {
		return nil, err
	}
	s := make([]float64, len(in.Weights))
	for _, g := range grads {
		for i, w := range in.Weights {
			s[i] -= w * g[i]
		}
	}
	return s, nil
}

// LnNormCriterion scores each weight by |w|^P, so that with [ReduceSum] (the default) a group's
// score is the Ln norm of its weights raised to P: the L1 (P=1) or L2 (P=2) norm of a neuron or
// filter, ranked identically. Unstructured, it ranks like [MagnitudeCriterion].
//
// Reference: Li, Kadav, Durdanovic, Samet, Graf, "Pruning Filters for Efficient ConvNets", ICLR
// 2017 (L1 filter norm); He, Kang, Dong, Fu, Yang, "Soft Filter Pruning", IJCAI 2018 (L2).
type LnNormCriterion struct{ P float64 }

// Name implements Criterion: "l1norm", "l2norm", or "l<P>norm".
func (c LnNormCriterion) Name() string { return fmt.Sprintf("l%gnorm", c.P) }

// Scores implements Criterion.
func (c LnNormCriterion) Scores(in *ScoreInput) ([]float64, error) {
	if !(c.P > 0) {
		return nil, fmt.Errorf("%w: Ln norm with P=%g", ErrInvalidAmount, c.P)
	}
	s := make([]float64, len(in.Weights))
	for i, w := range in.Weights {
		s[i] = math.Pow(math.Abs(w), c.P)
	}
	return s, nil
}

var (
	registryMu sync.RWMutex
	registry   = map[string]Criterion{}
)

func init() {
	for _, c := range []Criterion{MagnitudeCriterion{}, RandomCriterion{}, TaylorCriterion{}, SNIPCriterion{},
		MovementCriterion{}, LnNormCriterion{P: 1}, LnNormCriterion{P: 2}} {
		registry[c.Name()] = c
	}
}

// RegisterCriterion adds c to the registry under c.Name(); it is an error to register a name twice.
func RegisterCriterion(c Criterion) error {
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := registry[c.Name()]; dup {
		return fmt.Errorf("pruning: criterion %q already registered", c.Name())
	}
	registry[c.Name()] = c
	return nil
}

// Criteria returns the registered criteria sorted by name.
func Criteria() []Criterion {
	registryMu.RLock()
	defer registryMu.RUnlock()
	cs := make([]Criterion, 0, len(registry))
	for _, c := range registry {
		cs = append(cs, c)
	}
	slices.SortFunc(cs, func(a, b Criterion) int { return strings.Compare(a.Name(), b.Name()) })
	return cs
}

// CriterionNames returns the registered names, sorted.
func CriterionNames() []string {
	var names []string
	for _, c := range Criteria() {
		names = append(names, c.Name())
	}
	return names
}

// CriterionByName returns the registered criterion with the given name, or an error wrapping
// [ErrUnknownCriterion] that lists the known names.
func CriterionByName(name string) (Criterion, error) {
	registryMu.RLock()
	c, ok := registry[name]
	registryMu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w %q; known: %s", ErrUnknownCriterion, name, strings.Join(CriterionNames(), ", "))
	}
	return c, nil
}
