package experiment

import (
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/prunelab/prunelab/pruning"
	"github.com/prunelab/prunelab/training"
)

// PruneSettings say what is pruned, by names as the CLI takes them; [PruneSettings.Config] turns
// them into a [pruning.Config]. The zero value is unstructured magnitude pruning of every dense and
// convolution kernel, ties broken by position.
type PruneSettings struct {
	// Criterion is a registry name (default "magnitude"; see [pruning.CriterionNames]).
	Criterion string
	// Structure is "unstructured" (default), "out_channels", "in_channels", "N:M" (2:4) or
	// "blockIxO" (block4x1).
	Structure string
	// Allocation is "layerwise", "global", "erk" or "per-layer" (with LayerAmounts); empty means
	// the flow's default ([Prune]: global).
	Allocation string
	// LayerAmounts gives per-layer sparsities, "PATTERN=S,...".
	LayerAmounts string
	// Ties is "position" (default) or "torch" (as torch.nn.utils.prune on the CPU).
	Ties string
	// Include prunes only the variables matching these patterns; Skip leaves those matching
	// these unpruned (globs, or "re:REGEXP").
	Include, Skip []string
	// MinKeep is how many weights every layer keeps at least; GradientBatches the batches of
	// gradients for taylor, snip and movement (default 1).
	MinKeep, GradientBatches int
}

// Names of the allocations and tie-breaking rules settings accept.
var (
	AllocationNames = []string{"layerwise", "global", "erk", "per-layer"}
	TiesNames       = []string{"position", "torch"}
)

// Config parses the settings into a pruning configuration (without a gradient source) and the mask
// selector. targets are the model's prunable variables ([PrunableLayers]): every pattern must name
// one of them and the structure must apply to every layer pruned. Errors are [ErrOptions].
func (s PruneSettings) Config(targets []pruning.Target, seed int64) (pruning.Config, pruning.Selector, error) {
	var cfg pruning.Config
	sel := pruning.Selector{Include: s.Include}
	var err error
	criterion := s.Criterion
	if criterion == "" {
		criterion = "magnitude"
	}
	if cfg.Criterion, err = pruning.CriterionByName(criterion); err != nil {
		return cfg, sel, badOptions(err)
	}
	if cfg.Structure, err = pruning.ParseStructure(s.Structure); err != nil {
		return cfg, sel, badOptions(err)
	}
	switch s.Allocation {
	case "layerwise", "layer-wise", "":
		cfg.Allocation = pruning.LayerWise{}
	case "global":
		cfg.Allocation = pruning.Global{}
	case "erk":
		cfg.Allocation = pruning.ERK{}
	case "per-layer", "per_layer":
		if s.LayerAmounts == "" {
			return cfg, sel, badOptions(errors.New(`-allocation per-layer needs -layer-amounts "PATTERN=S,..."`))
		}
	default:
		return cfg, sel, badOptionsf("unknown allocation %q (known: %s)", s.Allocation, strings.Join(AllocationNames, ", "))
	}
	if s.LayerAmounts != "" {
		amounts, err := ParseLayerAmounts(s.LayerAmounts)
		if err != nil {
			return cfg, sel, err
		}
		cfg.Allocation = pruning.PerLayer{Amounts: amounts}
	}
	switch s.Ties {
	case "position", "":
		cfg.Ties = pruning.TiesByPosition
	case "torch":
		cfg.Ties = pruning.TiesLikeTorch
	default:
		return cfg, sel, badOptionsf("unknown tie-breaking %q (known: %s)", s.Ties, strings.Join(TiesNames, ", "))
	}
	if s.GradientBatches == 0 {
		s.GradientBatches = 1
	}
	if s.MinKeep < 0 || s.GradientBatches < 1 {
		return cfg, sel, badOptionsf("-min-keep must be >= 0 and -gradient-batches >= 1, got %d and %d",
			s.MinKeep, s.GradientBatches)
	}
	cfg.MinKeep, cfg.GradientBatches, cfg.Seed, cfg.Skip = s.MinKeep, s.GradientBatches, uint64(seed), s.Skip
	return cfg, sel, s.check(cfg, targets)
}

// check verifies that every pattern names a layer of targets (a misspelt one would otherwise do
// nothing) and that the structure applies to every layer pruned (N:M needs inputs a multiple of M).
func (s PruneSettings) check(cfg pruning.Config, targets []pruning.Target) error {
	layers := make([]string, len(targets))
	for i, t := range targets {
		layers[i] = t.Path()
	}
	if len(layers) == 0 {
		return badOptionsf("no prunable variables (check -include)")
	}
	check := slices.Clone(s.Skip)
	if pl, ok := cfg.Allocation.(pruning.PerLayer); ok {
		for p := range pl.Amounts {
			check = append(check, p)
		}
	}
	slices.Sort(check)
	for _, p := range check {
		matched := false
		for _, l := range layers {
			ok, err := pruning.MatchPattern(p, l)
			if err != nil {
				return badOptions(err)
			}
			matched = matched || ok
		}
		if !matched {
			return badOptionsf("%w: %q matches no prunable layer; layers: %s", pruning.ErrUnknownLayer, p,
				strings.Join(layers, ", "))
		}
	}
	for _, t := range targets {
		skipped := false
		for _, p := range s.Skip {
			ok, _ := pruning.MatchPattern(p, t.Path())
			skipped = skipped || ok
		}
		if _, _, err := cfg.Structure.Groups(t); err != nil && !skipped {
			return badOptionsf("-structure %s: %w (skip the layer with -skip)", s.Structure, err)
		}
	}
	return nil
}

// ParseLayerAmounts reads per-layer sparsities, "PATTERN=S,PATTERN=S".
func ParseLayerAmounts(s string) (map[string]float64, error) {
	out := map[string]float64{}
	for _, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return nil, badOptionsf(`-layer-amounts %q: want "PATTERN=SPARSITY,..."`, s)
		}
		x, err := strconv.ParseFloat(v, 64)
		if err != nil || pruning.Sparsity(x).Validate() != nil {
			return nil, badOptionsf("-layer-amounts: %s: sparsity %q is not a number in [0, 1)", k, v)
		}
		out[k] = x
	}
	return out, nil
}

// ParseSparsities reads comma-separated increasing sparsities in [0, 1) (a sensitivity ladder).
func ParseSparsities(s string) ([]float64, error) {
	var out []float64
	for _, part := range strings.Split(s, ",") {
		x, err := strconv.ParseFloat(strings.TrimSpace(part), 64)
		if err != nil || pruning.Sparsity(x).Validate() != nil {
			return nil, badOptionsf("-ladder: %q is not a sparsity in [0, 1)", part)
		}
		out = append(out, x)
	}
	if !slices.IsSorted(out) {
		return nil, badOptionsf("-ladder %s: sparsities must be increasing", s)
	}
	return out, nil
}

// ScheduleSettings say when to prune, by names as the CLI takes them; [ScheduleSettings.Build]
// turns them into a [pruning.Schedule]. The zero value prunes to 80% at once and fine-tunes 1 epoch.
type ScheduleSettings struct {
	// Schedule is "oneshot" (default), "iterative" or "polynomial".
	Schedule string
	// Sparsity is the final sparsity of the pruned layers, in [0, 1). The zero value of the whole
	// struct means 0.8; once Schedule is named, Sparsity is taken as it is.
	Sparsity float64
	// Finetune is the training with masks from the first pruning on, steps or epochs (default "1ep").
	Finetune string
	// Cycles is the number of prune-and-fine-tune cycles of "iterative" (default 5).
	Cycles int
	// Begin, End and Frequency are "polynomial"'s first and last mask updates and the steps
	// between updates (defaults "0it", 3/4 of Finetune, "100it"); Power its exponent (default 3).
	Begin, End, Frequency string
	Power                 float64
}

// ScheduleNames are the schedules [ScheduleSettings] accepts.
var ScheduleNames = []string{"oneshot", "iterative", "polynomial"}

func (s ScheduleSettings) withDefaults() ScheduleSettings {
	if s.Schedule == "" {
		s.Schedule = "oneshot"
		if s.Sparsity == 0 {
			s.Sparsity = 0.8
		}
	}
	if s.Finetune == "" {
		s.Finetune = "1ep"
	}
	if s.Cycles == 0 {
		s.Cycles = 5
	}
	if s.Begin == "" {
		s.Begin = "0it"
	}
	if s.Frequency == "" {
		s.Frequency = "100it"
	}
	if s.Power == 0 {
		s.Power = 3
	}
	return s
}

// Build returns the schedule in steps from the start of pruning, and the number of fine-tuning
// steps, for a training set of stepsPerEpoch batches. Errors are [ErrOptions].
func (s ScheduleSettings) Build(stepsPerEpoch int) (pruning.Schedule, int, error) {
	s = s.withDefaults()
	steps := func(name, v string) (int, error) {
		l, err := training.ParseLength(v)
		if err != nil {
			return 0, badOptionsf("-%s: %w", name, err)
		}
		return l.StepsFor(stepsPerEpoch), nil
	}
	total, err := steps("finetune", s.Finetune)
	if err != nil {
		return nil, 0, err
	}
	if err := pruning.Sparsity(s.Sparsity).Validate(); err != nil {
		return nil, 0, badOptionsf("-sparsity: %w", err)
	}
	var sched pruning.Schedule
	switch s.Schedule {
	case "oneshot", "one-shot":
		sched = pruning.OneShot{Step: 0, Sparsity: s.Sparsity}
	case "iterative":
		if s.Cycles < 1 {
			return nil, 0, badOptionsf("-cycles must be at least 1, got %d", s.Cycles)
		}
		if total < s.Cycles {
			return nil, 0, badOptionsf("-finetune %s (%d steps) is shorter than -cycles %d", s.Finetune, total, s.Cycles)
		}
		sched = pruning.NewIterative(0, total/s.Cycles, s.Cycles, s.Sparsity)
	case "polynomial", "gradual":
		begin, err := steps("begin", s.Begin)
		if err != nil {
			return nil, 0, err
		}
		end := total * 3 / 4
		if s.End != "" {
			if end, err = steps("end", s.End); err != nil {
				return nil, 0, err
			}
		}
		freq, err := steps("frequency", s.Frequency)
		if err != nil {
			return nil, 0, err
		}
		if end > total {
			return nil, 0, badOptionsf("-end %s (step %d) is after the end of -finetune %s (step %d)", s.End, end,
				s.Finetune, total)
		}
		sched = pruning.Polynomial{Final: s.Sparsity, Begin: begin, End: end, Frequency: freq, Power: s.Power}
	default:
		return nil, 0, badOptionsf("unknown schedule %q (known: %s)", s.Schedule, strings.Join(ScheduleNames, ", "))
	}
	if err := pruning.ValidateSchedule(sched); err != nil {
		return nil, 0, badOptions(err)
	}
	return sched, total, nil
}
