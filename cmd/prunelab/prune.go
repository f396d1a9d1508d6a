package main

import (
	"io"
	"strings"

	"github.com/prunelab/prunelab/experiment"
)

func init() { commands["prune"] = pruneCommand }

var pruneCommand = command{
	summary: "prune a trained model with any schedule, criterion, scope and structure, fine-tune, report",
	usage:   pruneUsage,
	run:     runPrune,
}

const pruneUsage = `prunelab prune: prune a dense model, fine-tune it, and report accuracy, sparsity and cost.

The dense model is a "prunelab train" run: -from RUN_DIR, or the run the dense flags describe
(LeNet-300-100 on MNIST for 3 epochs by default), trained first if its directory holds no checkpoint
yet and reused afterwards. Masks are added to the model without changing its code; pruned weights
stay exactly zero through fine-tuning (Adam included).

What is pruned: -criterion scores weights, -structure groups them (single weights, neurons, N:M,
weight blocks; a transformer's heads or blocks), -allocation spreads the amount over layers (each
layer alike, globally, ERK, or per layer), -skip and -include choose layers. When: -schedule
  oneshot     prune to -sparsity at once, then fine-tune for -finetune;
  iterative   -cycles prune-and-fine-tune cycles in -finetune, each pruning the same fraction of the
              remaining weights (Lottery Ticket style), reaching -sparsity at the last;
  polynomial  gradual pruning (Zhu & Gupta 2017) from -begin to -end every -frequency, cubic, then
              fine-tuning until -finetune ends.
Lengths are steps ("500it") or epochs ("2ep"), counted from the start of pruning.

Transformers (vit-tiny): -structure heads prunes attention heads, -structure blocks whole blocks,
through the non-trainable gates that multiply each head's output and each block's residual branches;
a pruned head's or block's gate is held at 0 through fine-tuning as a pruned weight is. The criterion
is taylor by default (|gate·dL/dgate| at gate 1: Michel et al. 2019's head importance, over
-gradient-batches batches at each update; -normalize-per-layer adds Michel et al.'s per-layer L2
normalization of the head scores); magnitude and movement are refused. Every attention layer
keeps a head (-allocation global or layerwise) and the model a block (global only). The summary says
which heads or blocks went and the MACs of the model once they are removed physically.

The run directory (named by a hash of every setting that changes results) holds config.json,
result.json (accuracy before and after, sparsity, compression, speedup, each mask update),
history.json/.csv (every evaluation), updates.csv, report.txt/.json (per-layer parameters,
non-zeros, FLOPs), masks.json, figures of the masks (masks, sparsity_by_layer, first_layer_pixels; SVG
and PNG) and the pruned checkpoint. A finished run is not redone (-force).

Examples:
  prunelab prune                                         # one-shot 80% global magnitude, 1 epoch fine-tuning
  prunelab prune -schedule polynomial -sparsity 0.95 -finetune 7ep -end 4ep   # 10 epochs in all
  prunelab prune -structure out_channels -criterion l2norm -allocation layerwise -sparsity 0.5 \
      -skip /fc2/dense/weights                           # neurons; the output layer's are the classes
  prunelab prune -structure 2:4 -skip /fc2/dense/weights
  prunelab prune -model vit-tiny -dense 4ep -structure heads -schedule polynomial -sparsity 0.5 \
      -finetune 300it -frequency 50it -gradient-batches 10   # 8 of 16 heads, gradually
  prunelab train -steps 3ep && prunelab prune -from runs/train-lenet-300-100-<hash>
`

func runPrune(args []string, stdout, stderr io.Writer) error {
	var o experiment.PruneOptions
	fs := newFlagSet("prune", pruneUsage, stderr)
	registerDense(fs, &o.Dense)
	fs.BoolVar(&o.ONNXInt8, "onnx-int8", false, "with -onnx: also write the pruned model with INT8 weights (model-int8.onnx)")
	registerPruneSettings(fs, &o.Prune, true)
	s := &o.Schedule
	fs.StringVar(&s.Schedule, "schedule", "oneshot", "when to prune: "+strings.Join(experiment.ScheduleNames, ", "))
	fs.Float64Var(&s.Sparsity, "sparsity", 0.8, "final sparsity of the pruned layers, in [0, 1)")
	fs.StringVar(&s.Finetune, "finetune", "1ep", "training with masks, from the first pruning on")
	fs.IntVar(&s.Cycles, "cycles", 5, "iterative: number of prune-and-fine-tune cycles")
	fs.StringVar(&s.Begin, "begin", "0it", "polynomial: first mask update")
	fs.StringVar(&s.End, "end", "", "polynomial: last mask update, where -sparsity is reached (default: 3/4 of -finetune)")
	fs.StringVar(&s.Frequency, "frequency", "100it", "polynomial: steps between mask updates")
	fs.Float64Var(&s.Power, "power", 3, "polynomial: exponent of the sparsity curve")
	fs.BoolVar(&o.ResetOptimizer, "reset-optimizer", false, "clear the optimizer state (Adam moments) before fine-tuning")
	checkpoint := fs.Bool("checkpoint", true, "save the pruned model's checkpoint in the run directory")
	fs.BoolVar(&o.Force, "force", false, "run again even if the run directory holds a result")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := checkFrom(fs, o.Dense); err != nil {
		return err
	}
	o.SkipCheckpoint, o.Dense.Log = !*checkpoint, stdout
	run, err := experiment.Prune(o)
	if err != nil {
		return err
	}
	run.WriteSummary(stdout)
	return nil
}
