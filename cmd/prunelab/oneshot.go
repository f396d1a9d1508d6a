package main

import (
	"io"
	"strings"

	"github.com/prunelab/prunelab/experiment"
	"github.com/prunelab/prunelab/oneshot"
)

func init() { commands["oneshot"] = oneshotCommand }

var oneshotCommand = command{
	summary: "prune a trained model in one shot from calibration data (magnitude, Wanda, SparseGPT), no retraining",
	usage:   oneshotUsage,
	run:     runOneShot,
}

const oneshotUsage = `prunelab oneshot: post-training pruning of every linear layer from a little calibration data.

The dense model is found as for "prunelab prune" (-from RUN_DIR, or trained first). Its linear layers
are pruned in order, each from the statistics of its inputs on -calibration training images passed
through the layers before it, already pruned (as both papers do): by magnitude (per output, or over the
whole layer with magnitude-layer, the papers' baseline), by Wanda
(Sun et al. 2023: |W|·‖X‖ per output) or by SparseGPT (Frantar & Alistarh 2023: optimal-brain-surgeon
reconstruction, the remaining weights updated). No fine-tuning: the test accuracy before and after
shows what each method keeps. The run directory holds config.json and result.json (per layer: shape,
sparsity, relative output error on the calibration inputs, time).

Examples:
  prunelab oneshot -method sparsegpt -pattern 2:4            # LeNet-300-100, 2 of every 4 inputs kept
  prunelab oneshot -model vit-tiny -dense 2ep -method wanda -pattern 0.5 -skip /head/**
  for m in magnitude magnitude-layer wanda sparsegpt; do prunelab oneshot -method $m -calibration-seed 2; done
`

func runOneShot(args []string, stdout, stderr io.Writer) error {
	var o experiment.OneShotOptions
	fs := newFlagSet("oneshot", oneshotUsage, stderr)
	registerDense(fs, &o.Dense)
	fs.StringVar(&o.Method, "method", "wanda", "how weights are chosen: "+strings.Join(oneshot.Methods, ", "))
	fs.StringVar(&o.Pattern, "pattern", "0.5", `unstructured sparsity ("0.5") or N:M, N kept of every M inputs ("2:4", "4:8")`)
	fs.IntVar(&o.Calibration, "calibration", 128, "training images the statistics come from (drawn at random)")
	fs.Int64Var(&o.CalibrationSeed, "calibration-seed", 1, "seed of the calibration images' draw")
	fs.Var((*patterns)(&o.Skip), "skip", "leave the layers matching these patterns dense (repeatable or comma-separated)")
	fs.IntVar(&o.SparseGPT.BlockSize, "block-size", 0, "sparsegpt: inputs per block of lazy updates (0: 128)")
	fs.Float64Var(&o.SparseGPT.PercDamp, "damp", 0, "sparsegpt: dampening as a fraction of mean(diag H) (0: 0.01)")
	fs.BoolVar(&o.Force, "force", false, "run again even if the run directory holds a result")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := checkFrom(fs, o.Dense); err != nil {
		return err
	}
	o.Dense.Log = stdout
	run, err := experiment.OneShot(o)
	if err != nil {
		return err
	}
	run.WriteSummary(stdout)
	return nil
}
