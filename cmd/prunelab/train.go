package main

import (
	"io"
	"strings"

	"github.com/prunelab/prunelab/experiment"
	"github.com/prunelab/prunelab/models"
)

func init() { commands["train"] = trainCommand }

var trainCommand = command{
	summary: "train a model from the registry and report its test accuracy",
	usage:   trainUsage,
	run:     runTrain,
}

const trainUsage = `prunelab train: train a model, evaluate it, and write the run to a directory.

The defaults are the Lottery Ticket setup (Frankle & Carbin 2019): LeNet-300-100 on MNIST, Adam 1.2e-3,
batch 60, 5,000 training images held out for validation. The run directory is named by a hash of every
setting that changes the numbers, so the same command writes to the same place; it holds config.json,
history.json/.csv (every evaluation), result.json and the final checkpoint.

Examples:
  prunelab train                                  # 3 epochs of LeNet-300-100 on MNIST
  prunelab train -steps 2000it -eval-every 100    # Lottery-Ticket-style evaluation cadence
  prunelab train -optimizer momentum -lr 0.05 -lr-schedule cosine -steps 10ep
  GOMLX_BACKEND=go prunelab train -seed 2         # force the pure-Go backend, another seed
`

func runTrain(args []string, stdout, stderr io.Writer) error {
	var o experiment.TrainOptions
	fs := newFlagSet("train", trainUsage, stderr)
	fs.StringVar(&o.Model, "model", "lenet-300-100", "model to train: "+strings.Join(models.Names(), ", "))
	fs.StringVar(&o.Dataset, "dataset", "", "dataset (default: the model's own, e.g. mnist): mnist, fashion-mnist, cifar10")
	fs.StringVar(&o.DataDir, "data", "", "directory holding the dataset files (default: $PRUNELAB_DATA, the cache, then download)")
	fs.StringVar(&o.Steps, "steps", "3ep", `training length: optimizer steps ("2000it") or epochs ("3ep")`)
	fs.IntVar(&o.Batch, "batch", 60, "training batch size")
	fs.StringVar(&o.Optimizer, "optimizer", "adam", "adam, sgd, or momentum (SGD with momentum)")
	fs.Float64Var(&o.LR, "lr", 0, "learning rate (default 1.2e-3 for adam, 0.1 for sgd/momentum)")
	fs.StringVar(&o.LRSchedule, "lr-schedule", "constant", `"constant", "cosine" (to 0 at the end), "cosine:N" (the same after N steps of linear warm-up), or "step:GAMMA@STEP1,STEP2"`)
	fs.Float64Var(&o.Momentum, "momentum", 0.9, "momentum of the momentum optimizer")
	fs.BoolVar(&o.Nesterov, "nesterov", false, "use Nesterov momentum")
	fs.Float64Var(&o.WeightDecay, "weight-decay", 0, "L2 weight decay")
	fs.IntVar(&o.EvalEvery, "eval-every", 0, "evaluate every N steps (0: once per epoch)")
	fs.IntVar(&o.Validation, "validation", 5000, "training images held out for validation (the early-stopping set)")
	fs.IntVar(&o.TrainLimit, "train-limit", 0, "use only the first N training images (0: all), for quick trials")
	fs.Int64Var(&o.Seed, "seed", 1, "random seed: initialization and data order; same seed, same numbers")
	fs.StringVar(&o.Out, "out", "runs", "directory under which the run directory is created")
	fs.BoolVar(&o.Progress, "progress", true, "show a progress bar (only in a terminal)")
	checkpoint := fs.Bool("checkpoint", true, "save the trained model's checkpoint in the run directory")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	o.SkipCheckpoint, o.Log = !*checkpoint, stdout
	run, err := experiment.Train(o)
	if err != nil {
		return err
	}
	run.WriteSummary(stdout)
	return nil
}
