package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/prunelab/prunelab/experiment"
)

func init() { commands["distill"] = distillCommand }

var distillCommand = command{
	summary: "compare distillation with plain fine-tuning of a pruned model, over seeds",
	usage:   distillUsage,
	run:     runDistill,
}

const distillUsage = `prunelab distill: knowledge distillation vs plain fine-tuning for a pruned model.

For each seed: train the dense model (the teacher), prune it once (global magnitude) to -prune, then,
from the same pruned weights, fine-tune once with the true labels only and once with distillation from
the dense teacher (Hinton et al. 2015: KL divergence of the temperature-softened outputs, times T²,
mixed with the true labels' cross-entropy by -alpha). Test accuracies (float32, and INT8 with -int8)
are reported per seed and as mean ± standard deviation in report.json.

Examples:
  prunelab distill                                   # LeNet-300-100, 95%, seeds 1,2,3
  prunelab distill -prune 0.98 -finetune 2ep -temperature 8
`

func runDistill(args []string, stdout, stderr io.Writer) error {
	var o experiment.DistillOptions
	fs := newFlagSet("distill", distillUsage, stderr)
	fs.StringVar(&o.Model, "model", "lenet-300-100", "model from the registry")
	fs.StringVar(&o.Dataset, "dataset", "", "dataset (default: the model's own)")
	fs.StringVar(&o.DataDir, "data", "", "directory holding the dataset files")
	fs.StringVar(&o.Train, "train", "3ep", "training length of the dense teacher")
	fs.StringVar(&o.FineTune, "finetune", "1ep", "fine-tuning length of each student")
	seeds := fs.String("seeds", "1,2,3", "comma-separated seeds")
	fs.Float64Var(&o.Prune, "prune", 0.95, "unstructured sparsity of the students (global magnitude)")
	fs.Float64Var(&o.Distill.Temperature, "temperature", 4, "distillation temperature T")
	fs.Float64Var(&o.Distill.Alpha, "alpha", 0.9, "weight of the soft-target term (the true labels get 1-alpha)")
	fs.IntVar(&o.Validation, "validation", 0, "training images held out")
	fs.IntVar(&o.TrainLimit, "train-limit", 0, "use only the first N training images (0: all)")
	fs.IntVar(&o.TestLimit, "test-limit", 0, "evaluate on the first N test images only (0: all)")
	fs.BoolVar(&o.Int8, "int8", true, "also measure both students after INT8 quantization")
	fs.StringVar(&o.Out, "out", "runs", "directory under which the run directory is created")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	o.Seeds = []int64{}
	for _, s := range strings.FieldsFunc(*seeds, func(r rune) bool { return r == ',' }) {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return usageError{fmt.Errorf("-seeds: %q is not an integer", s)}
		}
		o.Seeds = append(o.Seeds, n)
	}
	o.Log = stdout
	_, dir, err := experiment.Distill(o)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Files: %s/ (report.json)\n", dir)
	return nil
}
