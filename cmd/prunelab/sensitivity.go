package main

import (
	"io"

	"github.com/prunelab/prunelab/experiment"
)

func init() { commands["sensitivity"] = sensitivityCommand }

var sensitivityCommand = command{
	summary: "prune each layer alone along a ladder of sparsities, derive per-layer amounts",
	usage:   sensitivityUsage,
	run:     runSensitivity,
}

const sensitivityUsage = `prunelab sensitivity: how much each layer tolerates pruning (Han et al. 2015).

For each prunable layer of a dense model, prune it alone to each sparsity of -ladder and measure the
accuracy on the validation images; restore it; go on. From that table derive per-layer sparsities,
either the largest each layer tolerates within -max-drop of the baseline accuracy, or those reaching
-target overall sparsity with the smallest common drop; then prune the model with them once and
report (add -finetune to fine-tune afterwards). The dense model is found as for "prunelab prune".

The run directory holds sensitivity.json/.csv (the table), amounts.json (the derived sparsities),
result.json, report.txt/.json and masks.json.

Examples:
  prunelab sensitivity                                  # LeNet-300-100, magnitude, to 80% overall
  prunelab sensitivity -max-drop 0.005                  # each layer as far as it goes within 0.5 points
  prunelab sensitivity -structure out_channels -ladder 0.25,0.5,0.75 -target 0.5
  prunelab sensitivity -from runs/train-lenet-300-100-<hash> -finetune 1ep
`

func runSensitivity(args []string, stdout, stderr io.Writer) error {
	var o experiment.SensitivityOptions
	fs := newFlagSet("sensitivity", sensitivityUsage, stderr)
	registerDense(fs, &o.Dense)
	registerPruneSettings(fs, &o.Prune, false)
	ladder := fs.String("ladder", "0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,0.95", "sparsities each layer is pruned to, increasing, in [0, 1)")
	fs.Float64Var(&o.Target, "target", 0.8, "overall sparsity of the analyzed layers to derive per-layer amounts for")
	fs.Float64Var(&o.MaxDrop, "max-drop", 0, "instead of -target: largest accuracy drop (e.g. 0.005) each layer may cause")
	fs.IntVar(&o.EvalLimit, "eval-limit", 0, "evaluate on the first N validation images only (0: all)")
	fs.StringVar(&o.Finetune, "finetune", "0it", "fine-tuning after pruning with the derived amounts")
	fs.BoolVar(&o.Force, "force", false, "run again even if the run directory holds a result")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := checkFrom(fs, o.Dense); err != nil {
		return err
	}
	var err error
	if o.Ladder, err = experiment.ParseSparsities(*ladder); err != nil {
		return err
	}
	o.Dense.Log = stdout
	run, err := experiment.Sensitivity(o)
	if err != nil {
		return err
	}
	run.WriteSummary(stdout)
	return nil
}
