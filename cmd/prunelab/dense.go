package main

// Flags shared by commands: the dense model a pruning starts from, the pruning settings, the
// compression pipeline's first steps. Each registers straight into the library's options.

import (
	"flag"
	"fmt"
	"strings"

	"github.com/prunelab/prunelab/experiment"
	"github.com/prunelab/prunelab/models"
	"github.com/prunelab/prunelab/pruning"
)

// registerDense adds the flags choosing the dense model (prune and sensitivity).
func registerDense(fs *flag.FlagSet, o *experiment.DenseOptions) {
	fs.StringVar(&o.From, "from", "", "start from this train run directory (its checkpoint/ and config.json) instead of\n"+
		"training a dense model; its settings replace -model, -dataset, -dense, -optimizer, -dense-lr-schedule,\n-batch, -validation, -train-limit and -seed")
	fs.StringVar(&o.Model, "model", "lenet-300-100", "model: "+strings.Join(models.Names(), ", "))
	fs.StringVar(&o.Dataset, "dataset", "", "dataset (default: the model's own): mnist, fashion-mnist, cifar10")
	fs.StringVar(&o.DataDir, "data", "", "directory holding the dataset files (default: $PRUNELAB_DATA, the cache, then download)")
	fs.StringVar(&o.Dense, "dense", "3ep", `dense training before pruning, steps ("2000it") or epochs ("3ep"); the dense
run is the one "prunelab train -steps LEN" writes, reused when its checkpoint exists`)
	fs.StringVar(&o.Optimizer, "optimizer", "adam", "adam, sgd, or momentum")
	fs.StringVar(&o.LRSchedule, "dense-lr-schedule", "constant", `learning-rate schedule of dense training, as "prunelab train
-lr-schedule" takes it ("cosine:430"); fine-tuning runs at -lr, constant`)
	fs.Float64Var(&o.LR, "lr", 0, "learning rate of dense training and fine-tuning (default 1.2e-3 for adam, 0.1 otherwise;\nwith -from, the train run's)")
	fs.IntVar(&o.Batch, "batch", 60, "training batch size")
	fs.IntVar(&o.EvalEvery, "eval-every", 0, "evaluate every N steps (0: once per epoch)")
	fs.IntVar(&o.Validation, "validation", 5000, "training images held out for validation")
	fs.IntVar(&o.TrainLimit, "train-limit", 0, "use only the first N training images (0: all), for quick trials")
	fs.IntVar(&o.TestLimit, "test-limit", 0, "evaluate on the first N test images only (0: all), for quick trials")
	fs.Int64Var(&o.Seed, "seed", 1, "random seed: initialization, data order, random criteria")
	fs.StringVar(&o.Out, "out", "runs", "directory under which run directories are created")
	fs.BoolVar(&o.Progress, "progress", true, "show a progress bar (only in a terminal)")
	fs.StringVar(&o.ONNX, "onnx", "", "start from this ONNX model (e.g. from torch.onnx.export) instead of training one: its\n"+
		"Conv/Gemm/MatMul weights are pruned, -dataset's images (default mnist) must fit its input, and the\n"+
		"result is written back as model.onnx in the run directory; -model, -dense and -from are ignored")
}

// checkFrom rejects the dense-run flags that -from replaces when both are given.
func checkFrom(fs *flag.FlagSet, o experiment.DenseOptions) error {
	if o.From == "" {
		return nil
	}
	for _, name := range []string{"model", "dataset", "dense", "optimizer", "dense-lr-schedule", "batch", "validation", "train-limit", "seed"} {
		if explicit(fs)[name] {
			return usageError{fmt.Errorf("-%s conflicts with -from: the train run %s fixes it", name, o.From)}
		}
	}
	return nil
}

// explicit returns the names of the flags set on the command line.
func explicit(fs *flag.FlagSet) map[string]bool {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
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

// registerPruneSettings adds the pruning settings' flags; allocation says whether -allocation and
// -layer-amounts apply (sensitivity derives per-layer amounts itself).
func registerPruneSettings(fs *flag.FlagSet, s *experiment.PruneSettings, allocation bool) {
	fs.StringVar(&s.Criterion, "criterion", "", "what scores weights (lowest pruned first): "+
		strings.Join(pruning.CriterionNames(), ", ")+"\n(default magnitude; taylor for -structure heads and blocks)")
	structures := "what is pruned together: unstructured, out_channels (neurons,\n" +
		"filters), in_channels, N:M along inputs (2:4, 4:8), weight blocks blockIxO (block4x1)"
	if allocation { // prune: transformers' heads and blocks too
		structures += ",\nheads (a transformer's attention heads, through their gates; vit-tiny), blocks (whole\n" +
			"transformer blocks, through their gates)"
	}
	fs.StringVar(&s.Structure, "structure", "unstructured", structures)
	if allocation {
		fs.StringVar(&s.Allocation, "allocation", "global", "how the amount spreads over layers: "+
			strings.Join(experiment.AllocationNames, ", ")+"\n(per-layer takes -layer-amounts)")
		fs.StringVar(&s.LayerAmounts, "layer-amounts", "", `per-layer sparsities, "PATTERN=S,...", e.g. "/fc0/**=0.9,/fc2/**=0.5"`)
		fs.BoolVar(&s.NormalizePerLayer, "normalize-per-layer", false, "divide each layer's scores by their L2 norm before a global\n"+
			"ranking (Molchanov et al. 2017; Michel et al. 2019's head importance with -structure heads)")
	}
	fs.Var((*patterns)(&s.Include), "include", "prune only the variables matching these patterns (globs, or \"re:REGEXP\"; repeatable);\n"+
		"default: every dense and convolution kernel")
	fs.Var((*patterns)(&s.Skip), "skip", "leave the variables matching these patterns unpruned (repeatable or comma-separated)")
	fs.IntVar(&s.MinKeep, "min-keep", 0, "weights every layer keeps at least (guards global pruning against layer collapse)")
	fs.StringVar(&s.Ties, "ties", "position", "tie-breaking among equal scores: position (first layer, lowest index)\n"+
		"or torch (as torch.nn.utils.prune on the CPU; for comparisons)")
	fs.IntVar(&s.GradientBatches, "gradient-batches", 1, "batches of gradients for taylor, snip and movement")
}

// pipelineDefaults are a compression command's defaults for the pruning flags.
type pipelineDefaults struct {
	prune               float64
	structure, finetune string
	rounds              int
}

// registerPipeline adds the flags of the compression pipeline's first steps (compact, quantize, export).
func registerPipeline(fs *flag.FlagSet, o *experiment.PipelineOptions, d pipelineDefaults) {
	fs.StringVar(&o.Model, "model", "lenet-300-100", "model from the registry (ignored with -from)")
	fs.StringVar(&o.Dataset, "dataset", "", "dataset (default: the model's own)")
	fs.StringVar(&o.DataDir, "data", "", "directory holding the dataset files (default: $PRUNELAB_DATA, the cache, then download)")
	fs.StringVar(&o.From, "from", "", `a "prunelab train" run directory whose checkpoint is the dense model (default: train one)`)
	fs.StringVar(&o.Train, "train", "3ep", "training length of the dense model when there is no -from")
	fs.StringVar(&o.Masks, "masks", "", "a mask file (pruning.SaveMasks) to apply instead of pruning")
	fs.IntVar(&o.Validation, "validation", 0, "training images held out (not used for training)")
	fs.IntVar(&o.TrainLimit, "train-limit", 0, "use only the first N training images (0: all), for quick trials")
	fs.IntVar(&o.TestLimit, "test-limit", 0, "evaluate on the first N test images only (0: all), for quick trials")
	fs.Int64Var(&o.Seed, "seed", 1, "random seed")
	fs.Float64Var(&o.Prune, "prune", d.prune, "sparsity to prune to: fraction of weights (unstructured) or of channels (out_channels, groups); 0 keeps the model dense")
	fs.StringVar(&o.Structure, "structure", d.structure, `"unstructured", "out_channels" (neurons and filters, per layer) or "groups" (coupled channels, DepGraph-style: what compaction removes best)`)
	fs.StringVar(&o.Allocation, "allocation", "global", `how unstructured and out_channels sparsity spreads over layers: "global", "layerwise" or "erk"`)
	fs.IntVar(&o.Rounds, "rounds", d.rounds, "prune in this many rounds (geometric schedule), fine-tuning after each")
	fs.StringVar(&o.FineTune, "finetune", d.finetune, `fine-tuning after each pruning round ("0it": none)`)
	fs.Float64Var(&o.FineTuneLR, "finetune-lr", 1.2e-3, "Adam learning rate at the start of each fine-tuning round, decayed to 0 with a cosine over the round")
	fs.StringVar(&o.Out, "out", "runs", "directory under which the run directory is created")
	fs.BoolVar(&o.Progress, "progress", false, "show progress bars (only in a terminal)")
}

// parseInts reads "1,256" (empty: none).
func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' }) {
		var n int
		if _, err := fmt.Sscan(f, &n); err != nil || n <= 0 {
			return nil, fmt.Errorf("%q is not a positive integer", f)
		}
		out = append(out, n)
	}
	return out, nil
}
