package experiment

import (
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/prunelab/prunelab/models"
	"github.com/prunelab/prunelab/pruning"
	"github.com/prunelab/prunelab/training"
)

// PruneSettings say what is pruned, by names as the CLI takes them; [PruneSettings.Config] turns
// them into a [pruning.Config]. The zero value is unstructured magnitude pruning of every dense and
// convolution kernel, ties broken by position.
type PruneSettings struct {
	// Criterion is a registry name (default "magnitude", "taylor" for the structures "heads" and
	// "blocks"; see [pruning.CriterionNames]).
	Criterion string
	// Structure is "unstructured" (default), "out_channels", "in_channels", "N:M" (2:4),
	// "blockIxO" (block4x1), or, for transformers ([Prune] only), "heads" or "blocks": then the
	// pruned variables are the models' non-trainable gates (models.HeadGates, models.BlockGate),
	// one element per attention head or block, and a pruned head or block is one whose gate is
	// held at 0 (see [PruneSettings.Config] for what these structures accept).
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
	// NormalizePerLayer divides each layer's scores by their L2 norm before they are ranked, which
	// changes global rankings only: Molchanov et al. 2017's layer-wise normalization, which Michel
	// et al. 2019 apply to head importance (with the structure "heads" and "taylor" the scores are
	// then exactly [HeadImportance]'s). Not for the structure "blocks" (every score would be 1).
	NormalizePerLayer bool
}

// Names of the allocations and tie-breaking rules settings accept.
var (
	AllocationNames = []string{"layerwise", "global", "erk", "per-layer"}
	TiesNames       = []string{"position", "torch"}
)

// Structures of transformers that [PruneSettings] accept besides pruning.ParseStructure's.
const (
	// StructureHeads prunes attention heads through their gates (models.HeadGates).
	StructureHeads = "heads"
	// StructureBlocks prunes whole Transformer blocks through their gates (models.BlockGate).
	StructureBlocks = "blocks"
)

// Selector returns the selector of the variables these settings prune: the head gates of every
// attention layer for the structure "heads", the block gates for "blocks", and otherwise the
// variables Include names (the dense and convolution kernels by default). Give it to
// [PrunableLayers].
func (s PruneSettings) Selector() pruning.Selector {
	switch s.Structure {
	case StructureHeads:
		return pruning.Selector{Include: []string{"/block*/attn/" + models.HeadGates}}
	case StructureBlocks:
		return pruning.Selector{Include: []string{"/block*/" + models.BlockGate}}
	}
	return pruning.Selector{Include: s.Include}
}

// gateStructure is the structure of head and block gates: each element (one head, one block) is
// its own group, as [pruning.Unstructured]; its name is the settings' ("heads", "blocks").
type gateStructure struct{ name string }

// Name implements pruning.Structure.
func (g gateStructure) Name() string { return g.name }

// Groups implements pruning.Structure: one group per gate.
func (gateStructure) Groups(t pruning.Target) ([]int32, int, error) {
	return pruning.Unstructured{}.Groups(t)
}

// layerNormalized is a criterion whose scores are divided by their L2 norm over each layer
// (PruneSettings.NormalizePerLayer), as Molchanov et al. 2017 normalize filter importance and
// Michel et al. 2019 head importance, so that a global ranking compares layers whose scores differ
// in scale. Its name is the criterion's.
type layerNormalized struct{ pruning.Criterion }

// Scores implements pruning.Criterion.
func (c layerNormalized) Scores(in *pruning.ScoreInput) ([]float64, error) {
	s, err := c.Criterion.Scores(in)
	if err != nil {
		return nil, err
	}
	norm := 0.0
	for _, x := range s {
		norm += x * x
	}
	if norm > 0 {
		norm = math.Sqrt(norm)
		for i := range s {
			s[i] /= norm
		}
	}
	return s, nil
}

// Config parses the settings into a pruning configuration (without a gradient source) and the mask
// selector. targets are the model's prunable variables ([PrunableLayers] with
// [PruneSettings.Selector]): every pattern must name one of them and the structure must apply to
// every layer pruned. Errors are [ErrOptions].
//
// The structures "heads" and "blocks" prune a transformer's gates, whose masks hold a pruned head's
// or block's gate at 0 as a weight's mask holds the weight at 0. Their criterion is "taylor" by
// default: |gate·∂L/∂gate| at gate 1 is the first-order estimate of the loss change when the head or
// block goes, Michel et al.'s head importance (2019, "Are Sixteen Heads Really Better than One?")
// before their per-layer normalization (NormalizePerLayer adds it). "snip" and "random" apply too; the
// criteria that rank by magnitude ("magnitude", "l1norm", "l2norm": every gate is 1) and
// "movement" (gates are not trained) are refused. The gate structures take no -include (the gates
// are the pruned variables), no -layer-amounts and no "torch" ties. "heads" keeps at least one head
// in every attention layer (MinKeep is at least 1) and spreads the amount "global"ly or
// "layerwise"; "blocks" is "global" only (each block's gate is a layer of one element) with MinKeep
// 0, and [Prune] refuses an amount that would remove every head of a layer or every block.
func (s PruneSettings) Config(targets []pruning.Target, seed int64) (pruning.Config, pruning.Selector, error) {
	var cfg pruning.Config
	sel := s.Selector()
	var err error
	gates := s.Structure == StructureHeads || s.Structure == StructureBlocks
	criterion := s.Criterion
	if criterion == "" {
		criterion = "magnitude"
		if gates {
			criterion = "taylor"
		}
	}
	if cfg.Criterion, err = pruning.CriterionByName(criterion); err != nil {
		return cfg, sel, badOptions(err)
	}
	if gates {
		if err := s.checkGates(cfg.Criterion); err != nil {
			return cfg, sel, err
		}
		cfg.Structure = gateStructure{s.Structure}
		if s.Structure == StructureBlocks && s.Allocation == "" && s.LayerAmounts == "" {
			s.Allocation = "global"
		}
	} else if cfg.Structure, err = pruning.ParseStructure(s.Structure); err != nil {
		return cfg, sel, badOptions(err)
	}
	if s.NormalizePerLayer {
		cfg.Criterion = layerNormalized{cfg.Criterion}
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
	if s.Structure == StructureHeads {
		cfg.MinKeep = max(cfg.MinKeep, 1)
	}
	return cfg, sel, s.check(cfg, targets)
}

// checkGates checks the settings of the gate structures ("heads", "blocks") that do not depend on
// the model: criterion, allocation, include, ties, min-keep.
func (s PruneSettings) checkGates(c pruning.Criterion) error {
	switch c.(type) {
	case pruning.MagnitudeCriterion, pruning.LnNormCriterion:
		return badOptionsf("-structure %s: -criterion %s ranks by magnitude, and every %s gate is 1 until pruned; "+
			"use taylor (|gate·∂L/∂gate|, Michel et al. 2019), snip or random", s.Structure, c.Name(),
			strings.TrimSuffix(s.Structure, "s"))
	case pruning.MovementCriterion:
		return badOptionsf("-structure %s: -criterion movement scores how training moves weights, and gates are not "+
			"trained; use taylor, snip or random", s.Structure)
	}
	if len(s.Include) > 0 {
		return badOptionsf("-structure %s prunes the %s gates: -include does not apply (-skip leaves layers out)",
			s.Structure, strings.TrimSuffix(s.Structure, "s"))
	}
	if s.Ties == "torch" {
		return badOptionsf("-structure %s: -ties torch reproduces torch.nn.utils.prune's weight pruning; use -ties "+
			"position", s.Structure)
	}
	switch {
	case s.Structure == StructureHeads && !slices.Contains([]string{"", "global", "layerwise", "layer-wise"}, s.Allocation):
		return badOptionsf("-structure heads: -allocation %s; heads are pruned global or layerwise", s.Allocation)
	case s.Structure == StructureBlocks && s.Allocation != "" && s.Allocation != "global":
		return badOptionsf("-structure blocks: -allocation %s; blocks are pruned global (each block's gate is a "+
			"layer of one)", s.Allocation)
	case s.LayerAmounts != "":
		return badOptionsf("-structure %s: -layer-amounts does not apply", s.Structure)
	case s.Structure == StructureBlocks && s.NormalizePerLayer:
		return badOptionsf("-structure blocks: -normalize-per-layer would score every block 1 (each block's gate " +
			"is a layer of one)")
	case s.Structure == StructureBlocks && s.MinKeep > 0:
		return badOptionsf("-structure blocks: -min-keep %d would keep every block (each block's gate is a layer "+
			"of one); the flow keeps at least one block", s.MinKeep)
	}
	return nil
}

// checkGateAmount checks that pruning the gate targets to sparsity leaves a head in every attention
// layer ("heads"; MinKeep, globally or layer by layer) or a block ("blocks"). Errors are
// [ErrOptions]; other structures pass.
func (s PruneSettings) checkGateAmount(cfg pruning.Config, targets []pruning.Target, sparsity float64) error {
	var layers []pruning.Target
	for _, t := range targets {
		skipped := false
		for _, p := range s.Skip {
			ok, _ := pruning.MatchPattern(p, t.Path())
			skipped = skipped || ok
		}
		if !skipped {
			layers = append(layers, t)
		}
	}
	n := 0
	for _, t := range layers {
		n += t.Size()
	}
	budget := int(math.RoundToEven(sparsity * float64(n))) // as package pruning counts
	switch s.Structure {
	case StructureHeads:
		if _, global := cfg.Allocation.(pruning.Global); global {
			if most := n - cfg.MinKeep*len(layers); budget > most {
				return badOptionsf("-structure heads: -sparsity %g prunes %d of %d heads; at most %d can go, "+
					"as every attention layer keeps %d", sparsity, budget, n, most, cfg.MinKeep)
			}
			return nil
		}
		for _, t := range layers {
			if b := int(math.RoundToEven(sparsity * float64(t.Size()))); b > t.Size()-cfg.MinKeep {
				return badOptionsf("-structure heads: -sparsity %g prunes %d of the %d heads of %s layer by layer; "+
					"%d must stay", sparsity, b, t.Size(), t.Scope, cfg.MinKeep)
			}
		}
	case StructureBlocks:
		if budget >= n {
			return badOptionsf("-structure blocks: -sparsity %g prunes %d of %d blocks; at least one must stay",
				sparsity, budget, n)
		}
	}
	return nil
}

// check verifies that every pattern names a layer of targets (a misspelt one would otherwise do
// nothing) and that the structure applies to every layer pruned (N:M needs inputs a multiple of M).
func (s PruneSettings) check(cfg pruning.Config, targets []pruning.Target) error {
	layers := make([]string, len(targets))
	for i, t := range targets {
		layers[i] = t.Path()
	}
	if len(layers) == 0 {
		switch s.Structure {
		case StructureHeads, StructureBlocks:
			return badOptionsf("-structure %s: the model has no %s gates (%s): it applies to transformers (vit-tiny)",
				s.Structure, strings.TrimSuffix(s.Structure, "s"), strings.Join(s.Selector().Include, ", "))
		}
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
