package main

// Shared by "prunelab prune" and "prunelab sensitivity": the dense model they start from (a
// train run's checkpoint, trained on demand), the pruning settings and their parsing, the report.

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/train/losses"

	"github.com/prunelab/prunelab/backend"
	"github.com/prunelab/prunelab/datasets"
	"github.com/prunelab/prunelab/internal/atomicfile"
	"github.com/prunelab/prunelab/models"
	"github.com/prunelab/prunelab/pruning"
	"github.com/prunelab/prunelab/training"
)

// File names of prune and sensitivity run directories, all defined here.
const (
	configFile         = "config.json"
	resultFile         = "result.json"
	historyJSONFile    = "history.json"
	historyCSVFile     = "history.csv"
	reportTextFile     = "report.txt"
	reportJSONFile     = "report.json"
	masksFile          = "masks.json"
	updatesCSVFile     = "updates.csv"
	sensitivityJSON    = "sensitivity.json"
	sensitivityCSV     = "sensitivity.csv"
	amountsFile        = "amounts.json"
	checkpointDir      = "checkpoint"
	trainResultFile    = "result.json" // of a train run
	trainConfigFile    = "config.json" // of a train run
	defaultDenseLength = "3ep"
)

// denseFlags choose the dense model a pruning starts from: a train run (-from), or the train run
// these flags describe, trained first if its directory has no checkpoint yet.
type denseFlags struct {
	From, Model, Dataset, Data, Dense, Optimizer string
	LR                                           float64
	Batch, EvalEvery, Validation, TrainLimit     int
	TestLimit                                    int
	Seed                                         int64
	Out                                          string
	Progress                                     bool
}

// denseSettings are the flags -from replaces with the train run's own settings.
var denseSettings = []string{"model", "dataset", "dense", "optimizer", "batch", "validation", "train-limit", "seed"}

func (f *denseFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.From, "from", "", "start from this train run directory (its checkpoint/ and config.json) instead of\n"+
		"training a dense model; its settings replace -model, -dataset, -dense, -optimizer, -batch,\n-validation, -train-limit and -seed")
	fs.StringVar(&f.Model, "model", "lenet-300-100", "model: "+strings.Join(models.Names(), ", "))
	fs.StringVar(&f.Dataset, "dataset", "", "dataset (default: the model's own): mnist, fashion-mnist, cifar10")
	fs.StringVar(&f.Data, "data", "", "directory holding the dataset files (default: $PRUNELAB_DATA, the cache, then download)")
	fs.StringVar(&f.Dense, "dense", defaultDenseLength, `dense training before pruning, steps ("2000it") or epochs ("3ep"); the dense
run is the one "prunelab train -steps LEN" writes, reused when its checkpoint exists`)
	fs.StringVar(&f.Optimizer, "optimizer", "adam", "adam, sgd, or momentum")
	fs.Float64Var(&f.LR, "lr", 0, "learning rate of dense training and fine-tuning (default 1.2e-3 for adam, 0.1 otherwise;\nwith -from, the train run's)")
	fs.IntVar(&f.Batch, "batch", 60, "training batch size")
	fs.IntVar(&f.EvalEvery, "eval-every", 0, "evaluate every N steps (0: once per epoch)")
	fs.IntVar(&f.Validation, "validation", 5000, "training images held out for validation")
	fs.IntVar(&f.TrainLimit, "train-limit", 0, "use only the first N training images (0: all), for quick trials")
	fs.IntVar(&f.TestLimit, "test-limit", 0, "evaluate on the first N test images only (0: all), for quick trials")
	fs.Int64Var(&f.Seed, "seed", 1, "random seed: initialization, data order, random criteria")
	fs.StringVar(&f.Out, "out", "runs", "directory under which run directories are created")
	fs.BoolVar(&f.Progress, "progress", true, "show a progress bar (only in a terminal)")
}

// explicitFlags returns the names of the flags set on the command line.
func explicitFlags(fs *flag.FlagSet) map[string]bool {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}

// dense is a trained dense model in a session, ready to be pruned.
type dense struct {
	model  models.Model
	split  *splits
	sess   *training.Session
	config runConfig // of the train run
	dir    string    // the train run directory
	lr     float64   // learning rate for fine-tuning
	// fineTuning switches the learning rate schedule to lr; installMasks sets it.
	fineTuning bool
}

// trainRunConfig returns the configuration of the train run the flags describe (what
// "prunelab train" would write with the same flags).
func (f *denseFlags) trainRunConfig() (runConfig, models.Model, error) {
	m, err := models.ByName(f.Model)
	if err != nil {
		return runConfig{}, m, usageError{err}
	}
	length, err := training.ParseLength(f.Dense)
	if err != nil {
		return runConfig{}, m, usageError{err}
	}
	dataset := f.Dataset
	if dataset == "" {
		dataset = m.Dataset
	}
	lr := f.LR
	if lr == 0 {
		lr = 1.2e-3
		if f.Optimizer != training.Adam {
			lr = 0.1
		}
	}
	return runConfig{Model: m.Name, Dataset: dataset, Steps: length.String(), Optimizer: f.Optimizer,
		LRSchedule: "constant", LR: lr, Momentum: 0.9, Batch: f.Batch, Validation: f.Validation,
		TrainLimit: f.TrainLimit, Seed: f.Seed}, m, nil
}

// denseConfig resolves the train run to start from without loading anything: -from's
// config.json, or the run the flags describe.
func (f *denseFlags) denseConfig(explicit map[string]bool) (rc runConfig, m models.Model, dir string, err error) {
	if f.From == "" {
		rc, m, err = f.trainRunConfig()
		if err != nil {
			return rc, m, "", err
		}
		return rc, m, filepath.Join(f.Out, fmt.Sprintf("train-%s-%s", rc.Model, hash(rc))), nil
	}
	for _, name := range denseSettings {
		if explicit[name] {
			return rc, m, "", usageError{fmt.Errorf("-%s conflicts with -from: the train run %s fixes it", name, f.From)}
		}
	}
	b, err := os.ReadFile(filepath.Join(f.From, trainConfigFile))
	if err != nil {
		return rc, m, "", usageError{fmt.Errorf("-from %s: not a train run directory: %w", f.From, err)}
	}
	if err := json.Unmarshal(b, &rc); err != nil {
		return rc, m, "", fmt.Errorf("-from %s: %s: %w", f.From, trainConfigFile, err)
	}
	if _, err := os.Stat(filepath.Join(f.From, checkpointDir)); err != nil {
		return rc, m, "", usageError{fmt.Errorf("-from %s has no checkpoint (run \"prunelab train\" with -checkpoint)",
			f.From)}
	}
	m, err = models.ByName(rc.Model)
	if err != nil {
		return rc, m, "", err
	}
	return rc, m, f.From, nil
}

// loadDense loads the data and the dense model: it restores the train run's checkpoint, or
// trains the run first (writing it like "prunelab train" does) when there is none.
func (f *denseFlags) loadDense(rc runConfig, m models.Model, dir string, stdout io.Writer) (*dense, error) {
	split, err := loadSplits(rc.Dataset, f.Data, rc.Validation, rc.TrainLimit, rc.Seed)
	if err != nil {
		return nil, err
	}
	if f.TestLimit > 0 {
		split.test = split.test.Subset(f.TestLimit)
	}
	lr := rc.LR // fine-tuning uses the dense run's learning rate unless -lr says otherwise
	if f.LR != 0 {
		lr = f.LR
	}
	cfg := training.Config{Model: m, Optimizer: rc.Optimizer, LearningRate: rc.LR, Momentum: rc.Momentum,
		BatchSize: rc.Batch, EvalEvery: f.EvalEvery, Seed: rc.Seed, Progress: f.Progress, Log: stdout}
	d := &dense{model: m, split: split, config: rc, dir: dir, lr: lr}
	if lr != rc.LR {
		// The session applies the schedule before the first step of each Train and after every
		// step, so fine-tuning runs at lr from its first step.
		cfg.LRSchedule = training.LRFunc(func(int) float64 {
			if d.fineTuning {
				return lr
			}
			return rc.LR
		})
	}
	sess, err := training.NewSession(cfg)
	if err != nil {
		return nil, usageError{err}
	}
	if err := sess.SetTrainData(split.train); err != nil {
		return nil, err
	}
	d.sess = sess
	fmt.Fprintf(stdout, "%s on %s (train %d, validation %d, test %d images; %s); backend %q\n", m.Name, rc.Dataset,
		split.train.N, split.val.N, split.test.N, split.source, sess.Backend().Name())
	ckpt := filepath.Join(dir, checkpointDir)
	if _, err := os.Stat(filepath.Join(dir, trainResultFile)); err == nil {
		if _, err := os.Stat(ckpt); err == nil {
			fmt.Fprintf(stdout, "Dense model: %s (restored)\n", dir)
			return d, sess.Load(ckpt)
		}
	}
	length, err := training.ParseLength(rc.Steps)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(stdout, "Dense model: training %s (%d steps) into %s\n", length, length.StepsFor(sess.StepsPerEpoch()), dir)
	res, err := sess.Train(length, d.evalSets()...)
	if err != nil {
		return nil, err
	}
	if err := writeTrainRun(dir, rc, res, sess, true); err != nil {
		return nil, err
	}
	return d, nil
}

// evalSets are the sets evaluated during training: validation (if any) and test.
func (d *dense) evalSets() []training.EvalSet {
	evals := []training.EvalSet{{Name: "validation", Images: d.split.val}, {Name: "test", Images: d.split.test}}
	if d.split.val.N == 0 {
		evals = evals[1:]
	}
	return evals
}

// installMasks wraps the model so that the variables sel selects get masks, and builds it once
// (an evaluation on the test set, whose metrics it returns) so that the masks exist. When cfg's
// criterion scores with gradients (Taylor, SNIP, movement), it also sets cfg.Gradients.
func (d *dense) installMasks(sel pruning.Selector, cfg *pruning.Config) (training.Metrics, error) {
	d.fineTuning = true
	d.sess.SetModel(models.BuildFn(pruning.WrapModelFn(pruning.ModelFn(d.model.Build), sel)))
	test, err := d.sess.Evaluate(d.split.test)
	if err != nil || !needsGradients(cfg.Criterion) {
		return test, err
	}
	cfg.Gradients, err = d.gradients()
	return test, err
}

// gradients is a gradient source for gradient-based criteria: batches of the training images.
func (d *dense) gradients() (pruning.GradientSource, error) {
	b, err := datasets.NewBatches(d.split.train, datasets.BatchConfig{BatchSize: d.config.Batch, Shuffle: true,
		Seed: d.config.Seed + 1, DropRemainder: true, Loop: true, Normalization: d.sess.Config().Normalization})
	if err != nil {
		return nil, err
	}
	model := pruning.AsTrainModelFn(pruning.ModelFn(d.model.Build))
	return pruning.NewDatasetGradients(d.sess.Backend(), d.sess.Context(), model,
		losses.SparseCategoricalCrossEntropyLogits, b), nil
}

// report measures the model and reports its sparsity and FLOPs.
func (d *dense) report() (*pruning.Report, error) {
	input := shapes.Make(dtypes.Float32, append([]int{1}, d.model.InputShape...)...)
	info, err := pruning.MeasureModel(d.sess.Backend(), d.sess.Context(), pruning.ModelFn(d.model.Build), input)
	if err != nil {
		return nil, err
	}
	return pruning.NewReport(d.sess.Context(), info)
}

// prunableLayers lists the variables of model m that sel selects, by building the model once in
// a scratch context (no data, no training): it lets bad layer names and structures fail before
// any training.
func prunableLayers(m models.Model, sel pruning.Selector) ([]pruning.Target, error) {
	b, err := backend.Default()
	if err != nil {
		return nil, err
	}
	ctx := context.New()
	input := shapes.Make(dtypes.Float32, append([]int{1}, m.InputShape...)...)
	if _, err := pruning.MeasureModel(b, ctx, pruning.ModelFn(m.Build), input); err != nil {
		return nil, err
	}
	targets, err := pruning.SelectTargets(ctx, sel)
	if err != nil {
		return nil, usageError{err}
	}
	return targets, nil
}

// paths returns the paths of targets.
func paths(targets []pruning.Target) []string {
	out := make([]string, len(targets))
	for i, t := range targets {
		out[i] = t.Path()
	}
	return out
}

// dataCache keeps loaded data sets for the process (tests run many commands).
var dataCache = map[[2]string]*datasets.Data{}

// loadSplits loads a data set (once per process: tests run many commands) and holds out validation
// images from its training set, seeded; trainLimit > 0 keeps only that many training images.
func loadSplits(name, dir string, validation, trainLimit int, seed int64) (*splits, error) {
	key := [2]string{name, dir}
	data, ok := dataCache[key]
	if !ok {
		var err error
		if data, err = datasets.Load(name, datasets.Options{Dir: dir}); err != nil {
			return nil, err
		}
		dataCache[key] = data
	}
	train, val, err := data.Train.Split(validation, seed)
	if err != nil {
		return nil, usageError{err}
	}
	if trainLimit > 0 && trainLimit < train.N {
		train = train.Subset(trainLimit)
	}
	return &splits{train: train, val: val, test: data.Test, source: data.Source}, nil
}

// pruneFlags are the pruning settings shared by prune and sensitivity.
type pruneFlags struct {
	Criterion, Structure, Allocation, LayerAmounts, Ties string
	Include, Skip                                        patterns
	MinKeep, GradientBatches                             int
}

// patterns is a repeatable or comma-separated flag of variable patterns.
type patterns []string

func (p *patterns) String() string { return strings.Join(*p, ",") }
func (p *patterns) Set(s string) error {
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			*p = append(*p, x)
		}
	}
	return nil
}

var (
	allocationNames = []string{"layerwise", "global", "erk", "per-layer"}
	tiesNames       = []string{"position", "torch"}
)

// register adds the flags to fs; allocation says whether -allocation and -layer-amounts apply
// (sensitivity derives per-layer amounts itself).
func (f *pruneFlags) register(fs *flag.FlagSet, allocation bool) {
	f.Allocation = "layerwise"
	fs.StringVar(&f.Criterion, "criterion", "magnitude", "what scores weights (lowest pruned first): "+
		strings.Join(pruning.CriterionNames(), ", "))
	fs.StringVar(&f.Structure, "structure", "unstructured", "what is pruned together: unstructured, out_channels (neurons,\n"+
		"filters), in_channels, N:M along inputs (2:4, 4:8), blocks blockIxO (block4x1)")
	if allocation {
		fs.StringVar(&f.Allocation, "allocation", "global", "how the amount spreads over layers: "+
			strings.Join(allocationNames, ", ")+"\n(per-layer takes -layer-amounts)")
		fs.StringVar(&f.LayerAmounts, "layer-amounts", "", `per-layer sparsities, "PATTERN=S,...", e.g. "/fc0/**=0.9,/fc2/**=0.5"`)
	}
	fs.Var(&f.Include, "include", "prune only the variables matching these patterns (globs, or \"re:REGEXP\"; repeatable);\n"+
		"default: every dense and convolution kernel")
	fs.Var(&f.Skip, "skip", "leave the variables matching these patterns unpruned (repeatable or comma-separated)")
	fs.IntVar(&f.MinKeep, "min-keep", 0, "weights every layer keeps at least (guards global pruning against layer collapse)")
	fs.StringVar(&f.Ties, "ties", "position", "tie-breaking among equal scores: position (first layer, lowest index)\n"+
		"or torch (as torch.nn.utils.prune on the CPU; for comparisons)")
	fs.IntVar(&f.GradientBatches, "gradient-batches", 1, "batches of gradients for taylor, snip and movement")
}

// config parses the pruning settings into a Config (without a gradient source) and the mask
// selector; targets are the prunable variables, for checking patterns and structures.
func (f *pruneFlags) config(targets []pruning.Target, seed int64) (pruning.Config, pruning.Selector, error) {
	layers := paths(targets)
	var cfg pruning.Config
	sel := pruning.Selector{Include: f.Include}
	var err error
	if cfg.Criterion, err = pruning.CriterionByName(f.Criterion); err != nil {
		return cfg, sel, usageError{err}
	}
	if cfg.Structure, err = pruning.ParseStructure(f.Structure); err != nil {
		return cfg, sel, usageError{err}
	}
	switch f.Allocation {
	case "layerwise", "layer-wise":
		cfg.Allocation = pruning.LayerWise{}
	case "global":
		cfg.Allocation = pruning.Global{}
	case "erk":
		cfg.Allocation = pruning.ERK{}
	case "per-layer", "per_layer":
		if f.LayerAmounts == "" {
			return cfg, sel, usageError{errors.New(`-allocation per-layer needs -layer-amounts "PATTERN=S,..."`)}
		}
	default:
		return cfg, sel, usageError{fmt.Errorf("unknown allocation %q (known: %s)", f.Allocation,
			strings.Join(allocationNames, ", "))}
	}
	if f.LayerAmounts != "" {
		amounts, err := parseLayerAmounts(f.LayerAmounts)
		if err != nil {
			return cfg, sel, err
		}
		cfg.Allocation = pruning.PerLayer{Amounts: amounts}
	}
	switch f.Ties {
	case "position":
		cfg.Ties = pruning.TiesByPosition
	case "torch":
		cfg.Ties = pruning.TiesLikeTorch
	default:
		return cfg, sel, usageError{fmt.Errorf("unknown tie-breaking %q (known: %s)", f.Ties, strings.Join(tiesNames, ", "))}
	}
	if f.MinKeep < 0 || f.GradientBatches < 1 {
		return cfg, sel, usageError{fmt.Errorf("-min-keep must be >= 0 and -gradient-batches >= 1, got %d and %d",
			f.MinKeep, f.GradientBatches)}
	}
	cfg.MinKeep, cfg.GradientBatches, cfg.Seed, cfg.Skip = f.MinKeep, f.GradientBatches, uint64(seed), f.Skip

	// Patterns must name layers of the model: a misspelt one would otherwise do nothing.
	if len(layers) == 0 {
		return cfg, sel, usageError{fmt.Errorf("no prunable variables (check -include)")}
	}
	var check []string
	check = append(check, f.Skip...)
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
				return cfg, sel, usageError{err}
			}
			matched = matched || ok
		}
		if !matched {
			return cfg, sel, usageError{fmt.Errorf("%w: %q matches no prunable layer; layers: %s", pruning.ErrUnknownLayer,
				p, strings.Join(layers, ", "))}
		}
	}
	// The structure must apply to every layer pruned (e.g. N:M needs inputs a multiple of M).
	for _, t := range targets {
		skipped := false
		for _, p := range f.Skip {
			ok, _ := pruning.MatchPattern(p, t.Path())
			skipped = skipped || ok
		}
		if _, _, err := cfg.Structure.Groups(t); err != nil && !skipped {
			return cfg, sel, usageError{fmt.Errorf("-structure %s: %w (skip the layer with -skip)", f.Structure, err)}
		}
	}
	return cfg, sel, nil
}

// parseLayerAmounts reads "PATTERN=S,PATTERN=S".
func parseLayerAmounts(s string) (map[string]float64, error) {
	out := map[string]float64{}
	for _, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return nil, usageError{fmt.Errorf(`-layer-amounts %q: want "PATTERN=SPARSITY,..."`, s)}
		}
		x, err := strconv.ParseFloat(v, 64)
		if err != nil || pruning.Sparsity(x).Validate() != nil {
			return nil, usageError{fmt.Errorf("-layer-amounts: %s: sparsity %q is not a number in [0, 1)", k, v)}
		}
		out[k] = x
	}
	return out, nil
}

// writeReport writes the report as text and JSON into dir.
func writeReport(dir string, r *pruning.Report) error {
	if err := atomicfile.WriteFile(filepath.Join(dir, reportTextFile), []byte(r.String())); err != nil {
		return err
	}
	js, err := r.JSON()
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, reportJSONFile), append(js, '\n'))
}

// writeHistory writes evaluations as JSON and CSV into dir.
func writeHistory(dir string, h training.History) error {
	if err := atomicfile.WriteJSON(filepath.Join(dir, historyJSONFile), h); err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, historyCSVFile), func(w io.Writer) error {
		if _, err := fmt.Fprintln(w, "step,split,loss,accuracy"); err != nil {
			return err
		}
		for _, p := range h {
			if _, err := fmt.Fprintf(w, "%d,%s,%.6g,%.6g\n", p.Step, p.Split, p.Loss, p.Accuracy); err != nil {
				return err
			}
		}
		return nil
	})
}

// epochSeconds sums step durations per full epoch.
func epochSeconds(res *training.Result, stepsPerEpoch int) []float64 {
	var out []float64
	for i := 0; stepsPerEpoch > 0 && i+stepsPerEpoch <= len(res.StepDurations); i += stepsPerEpoch {
		var s float64
		for _, d := range res.StepDurations[i : i+stepsPerEpoch] {
			s += d.Seconds()
		}
		out = append(out, s)
	}
	return out
}
