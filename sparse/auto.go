package sparse

import (
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/prunelab/prunelab/program"
)

// Runner computes a model's outputs for a batch of inputs (row-major float32 values).
type Runner interface {
	Run(x []float32, batch int) ([]float32, error)
}

// RunnerFunc adapts a function to [Runner].
type RunnerFunc func(x []float32, batch int) ([]float32, error)

// Run implements Runner.
func (f RunnerFunc) Run(x []float32, batch int) ([]float32, error) { return f(x, batch) }

// NewGoMLXRunner returns a Runner that executes p with GoMLX on backend, with ctx's variables: the
// dense path the Go executor is compared with. p runs folded for inference ([program.Fold]: what does
// not depend on the input, masks times weights, batch-norm factors, compensation terms, computed once
// here), as an inference compiler would. Each batch size compiles once.
func NewGoMLXRunner(backend backends.Backend, p *program.Program, ctx *context.Context) (Runner, error) {
	values, err := p.Values(ctx)
	if err != nil {
		return nil, err
	}
	p, values, err = program.Fold(backend, p, values)
	if err != nil {
		return nil, err
	}
	if ctx, err = p.NewContext(values); err != nil {
		return nil, err
	}
	exec, err := p.NewExec(backend, ctx)
	if err != nil {
		return nil, err
	}
	dims := p.InputDims()
	var mu sync.Mutex
	return RunnerFunc(func(x []float32, batch int) ([]float32, error) {
		if batch <= 0 || len(x) != batch*size(dims) {
			return nil, fmt.Errorf("sparse: GoMLX runner: %d values for a batch of %d examples of shape %v", len(x), batch, dims)
		}
		t := tensors.FromFlatDataAndDimensions(slices.Clone(x), append([]int{batch}, dims...)...)
		mu.Lock()
		defer mu.Unlock()
		out, err := exec.Exec(t)
		if err != nil {
			return nil, err
		}
		defer out[0].FinalizeAll()
		return tensors.CopyFlatData[float32](out[0])
	}), nil
}

// Candidate is a named [Runner] among which [Auto] chooses.
type Candidate struct {
	Name   string
	Runner Runner
}

// Auto runs whichever candidate is fastest for the batch size: the first time it sees a batch size
// it runs every candidate Trials times on that batch (after one warm-up run, which compiles GoMLX
// graphs) and keeps the one with the smallest median time. Every candidate must compute the same
// function; Auto returns the chosen one's output. It is safe for concurrent use.
type Auto struct {
	Candidates []Candidate
	// Trials is the number of timed runs per candidate (default 5).
	Trials int

	mu     sync.Mutex
	chosen map[int]int
	timing map[int][]time.Duration
}

// Run implements Runner.
func (a *Auto) Run(x []float32, batch int) ([]float32, error) {
	a.mu.Lock()
	i, ok := a.chosen[batch]
	a.mu.Unlock()
	if !ok {
		var err error
		if i, err = a.choose(x, batch); err != nil {
			return nil, err
		}
	}
	return a.Candidates[i].Runner.Run(x, batch)
}

// Choice returns the name of the candidate chosen for the batch size and the median time of each
// candidate, in Candidates order; ok is false before the first Run with that batch size.
func (a *Auto) Choice(batch int) (name string, medians []time.Duration, ok bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	i, ok := a.chosen[batch]
	if !ok {
		return "", nil, false
	}
	return a.Candidates[i].Name, slices.Clone(a.timing[batch]), true
}

func (a *Auto) choose(x []float32, batch int) (int, error) {
	if len(a.Candidates) == 0 {
		return 0, fmt.Errorf("sparse: Auto has no candidates")
	}
	trials := a.Trials
	if trials <= 0 {
		trials = 5
	}
	medians := make([]time.Duration, len(a.Candidates))
	best := 0
	for c, cand := range a.Candidates {
		if _, err := cand.Runner.Run(x, batch); err != nil {
			return 0, fmt.Errorf("sparse: Auto: candidate %s: %w", cand.Name, err)
		}
		times := make([]time.Duration, trials)
		for t := range trials {
			start := time.Now()
			if _, err := cand.Runner.Run(x, batch); err != nil {
				return 0, fmt.Errorf("sparse: Auto: candidate %s: %w", cand.Name, err)
			}
			times[t] = time.Since(start)
		}
		slices.Sort(times)
		medians[c] = times[trials/2]
		if medians[c] < medians[best] {
			best = c
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.chosen == nil {
		a.chosen, a.timing = map[int]int{}, map[int][]time.Duration{}
	}
	a.chosen[batch], a.timing[batch] = best, medians
	return best, nil
}

// MedianTimes runs each runner on the same batch x in turns, after one untimed run each (which
// compiles), for at least d and at least 5 rounds, and returns each one's median time. Taking turns
// spreads any other load on the machine evenly over the runners, so their ratios are fair on a busy
// machine.
func MedianTimes(x []float32, batch int, d time.Duration, runners ...Runner) ([]time.Duration, error) {
	times := make([][]time.Duration, len(runners))
	for _, r := range runners {
		if _, err := r.Run(x, batch); err != nil {
			return nil, err
		}
	}
	for start := time.Now(); len(runners) > 0 && (len(times[0]) < 5 || time.Since(start) < d); {
		for i, r := range runners {
			t := time.Now()
			if _, err := r.Run(x, batch); err != nil {
				return nil, err
			}
			times[i] = append(times[i], time.Since(t))
		}
	}
	medians := make([]time.Duration, len(runners))
	for i, t := range times {
		slices.Sort(t)
		medians[i] = t[len(t)/2]
	}
	return medians, nil
}
