package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/prunelab/prunelab/distill"
	"github.com/prunelab/prunelab/internal/atomicfile"
	"github.com/prunelab/prunelab/models"
	"github.com/prunelab/prunelab/pruning"
	"github.com/prunelab/prunelab/training"
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

type distillFlags struct {
	Model, Dataset, Data, Train, FineTune, Seeds, Out string
	Prune, Temperature, Alpha                         float64
	Validation, TrainLimit, TestLimit                 int
	Int8                                              bool
}

func runDistill(args []string, stdout, stderr io.Writer) error {
	var f distillFlags
	fs := newFlagSet("distill", distillUsage, stderr)
	fs.StringVar(&f.Model, "model", "lenet-300-100", "model from the registry")
	fs.StringVar(&f.Dataset, "dataset", "", "dataset (default: the model's own)")
	fs.StringVar(&f.Data, "data", "", "directory holding the dataset files")
	fs.StringVar(&f.Train, "train", "3ep", "training length of the dense teacher")
	fs.StringVar(&f.FineTune, "finetune", "1ep", "fine-tuning length of each student")
	fs.StringVar(&f.Seeds, "seeds", "1,2,3", "comma-separated seeds")
	fs.Float64Var(&f.Prune, "prune", 0.95, "unstructured sparsity of the students (global magnitude)")
	fs.Float64Var(&f.Temperature, "temperature", 4, "distillation temperature T")
	fs.Float64Var(&f.Alpha, "alpha", 0.9, "weight of the soft-target term (the true labels get 1-alpha)")
	fs.IntVar(&f.Validation, "validation", 0, "training images held out")
	fs.IntVar(&f.TrainLimit, "train-limit", 0, "use only the first N training images (0: all)")
	fs.IntVar(&f.TestLimit, "test-limit", 0, "evaluate on the first N test images only (0: all)")
	fs.BoolVar(&f.Int8, "int8", true, "also measure both students after INT8 quantization")
	fs.StringVar(&f.Out, "out", "runs", "directory under which the run directory is created")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	m, err := models.ByName(f.Model)
	if err != nil {
		return usageError{err}
	}
	if f.Dataset == "" {
		f.Dataset = m.Dataset
	}
	teacherLen, err := training.ParseLength(f.Train)
	if err != nil {
		return usageError{err}
	}
	ftLen, err := training.ParseLength(f.FineTune)
	if err != nil {
		return usageError{err}
	}
	var seeds []int64
	for _, s := range splitList(f.Seeds) {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return usageError{fmt.Errorf("-seeds: %q is not an integer", s)}
		}
		seeds = append(seeds, n)
	}
	cfg := distill.Config{Temperature: f.Temperature, Alpha: f.Alpha}
	if err := cfg.Validate(); err != nil || !(f.Prune > 0 && f.Prune < 1) || len(seeds) == 0 {
		return usageError{fmt.Errorf("need -prune in (0, 1), seeds, temperature > 0 and alpha in (0, 1] (%v)", err)}
	}
	split, err := loadSplits(f.Dataset, f.Data, f.Validation, f.TrainLimit, 1)
	if err != nil {
		return err
	}
	if f.TestLimit > 0 && f.TestLimit < split.test.N {
		split.test = split.test.Subset(f.TestLimit)
	}
	fmt.Fprintf(stdout, "%s on %s: teacher %s, students pruned to %.0f%% and fine-tuned %s, T=%g, alpha=%g, seeds %v\n",
		m.Name, f.Dataset, teacherLen, 100*f.Prune, ftLen, f.Temperature, f.Alpha, seeds)
	start := time.Now()
	res, err := distill.Experiment{Model: m, Train: split.train, Test: split.test, Sparsity: f.Prune,
		Prune: pruning.Config{Allocation: pruning.Global{}}, TeacherLength: teacherLen, FineTuneLength: ftLen,
		Seeds: seeds, Distill: cfg, Quantize: f.Int8, Log: stdout}.Run()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nover %d seeds: teacher %s, pruned %s; fine-tuned %s, distilled %s", len(seeds), res.Teacher,
		res.Pruned, res.FineTuned, res.Distilled)
	if res.DistilledInt8 != nil {
		fmt.Fprintf(stdout, "; INT8: fine-tuned %s, distilled %s", res.FineTunedInt8, res.DistilledInt8)
	}
	fmt.Fprintf(stdout, " (%.0f s)\n", time.Since(start).Seconds())
	dir := filepath.Join(f.Out, fmt.Sprintf("distill-%s-%s", m.Name, hash(f)))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := atomicfile.WriteJSON(filepath.Join(dir, "report.json"), res); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Files: %s/ (report.json)\n", dir)
	return nil
}
