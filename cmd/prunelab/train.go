package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/prunelab/prunelab/backend"
	"github.com/prunelab/prunelab/datasets"
	"github.com/prunelab/prunelab/internal/atomicfile"
	"github.com/prunelab/prunelab/models"
	"github.com/prunelab/prunelab/report"
	"github.com/prunelab/prunelab/training"
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

// trainFlags are the settings of "prunelab train".
type trainFlags struct {
	Model, Dataset, Data, Steps, Optimizer, LRSchedule string
	LR, Momentum, WeightDecay                          float64
	Nesterov                                           bool
	Batch, EvalEvery, Validation, TrainLimit           int
	Seed                                               int64
	Out                                                string
	Progress, Checkpoint                               bool
}

func (f *trainFlags) register(fs interface {
	StringVar(*string, string, string, string)
	Float64Var(*float64, string, float64, string)
	BoolVar(*bool, string, bool, string)
	IntVar(*int, string, int, string)
	Int64Var(*int64, string, int64, string)
}) {
	fs.StringVar(&f.Model, "model", "lenet-300-100", "model to train: "+strings.Join(models.Names(), ", "))
	fs.StringVar(&f.Dataset, "dataset", "", "dataset (default: the model's own, e.g. mnist): mnist, fashion-mnist, cifar10")
	fs.StringVar(&f.Data, "data", "", "directory holding the dataset files (default: $PRUNELAB_DATA, the cache, then download)")
	fs.StringVar(&f.Steps, "steps", "3ep", `training length: optimizer steps ("2000it") or epochs ("3ep")`)
	fs.IntVar(&f.Batch, "batch", 60, "training batch size")
	fs.StringVar(&f.Optimizer, "optimizer", "adam", "adam, sgd, or momentum (SGD with momentum)")
	fs.Float64Var(&f.LR, "lr", 0, "learning rate (default 1.2e-3 for adam, 0.1 for sgd/momentum)")
	fs.StringVar(&f.LRSchedule, "lr-schedule", "constant", `"constant", "cosine" (to 0 at the end), or "step:GAMMA@STEP1,STEP2"`)
	fs.Float64Var(&f.Momentum, "momentum", 0.9, "momentum of the momentum optimizer")
	fs.BoolVar(&f.Nesterov, "nesterov", false, "use Nesterov momentum")
	fs.Float64Var(&f.WeightDecay, "weight-decay", 0, "L2 weight decay")
	fs.IntVar(&f.EvalEvery, "eval-every", 0, "evaluate every N steps (0: once per epoch)")
	fs.IntVar(&f.Validation, "validation", 5000, "training images held out for validation (the early-stopping set)")
	fs.IntVar(&f.TrainLimit, "train-limit", 0, "use only the first N training images (0: all), for quick trials")
	fs.Int64Var(&f.Seed, "seed", 1, "random seed: initialization and data order; same seed, same numbers")
	fs.StringVar(&f.Out, "out", "runs", "directory under which the run directory is created")
	fs.BoolVar(&f.Progress, "progress", true, "show a progress bar (only in a terminal)")
	fs.BoolVar(&f.Checkpoint, "checkpoint", true, "save the trained model's checkpoint in the run directory")
}

// runConfig is what changes a training run's numbers: it is hashed to name the run directory and saved
// beside the results.
type runConfig struct {
	Model, Dataset, Steps, Optimizer, LRSchedule string
	LR, Momentum, WeightDecay                    float64
	Nesterov                                     bool
	Batch, Validation, TrainLimit                int
	Seed                                         int64
}

// hash names a run directory by its configuration (paths and display options are not part of it).
func hash(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // Plain structs of strings and numbers always marshal.
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])[:10]
}

func runTrain(args []string, stdout, stderr io.Writer) error {
	var f trainFlags
	fs := newFlagSet("train", trainUsage, stderr)
	f.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	m, err := models.ByName(f.Model)
	if err != nil {
		return usageError{err}
	}
	length, err := training.ParseLength(f.Steps)
	if err != nil {
		return usageError{err}
	}
	if f.Dataset == "" {
		f.Dataset = m.Dataset
	}
	start := time.Now()
	split, err := loadSplits(f.Dataset, f.Data, f.Validation, f.TrainLimit, f.Seed)
	if err != nil {
		return err
	}
	lr := f.LR
	if lr == 0 {
		lr = 1.2e-3
		if f.Optimizer != training.Adam {
			lr = 0.1
		}
	}
	stepsPerEpoch := split.train.N / f.Batch
	totalSteps := length.StepsFor(stepsPerEpoch)
	sched, err := training.ParseLRSchedule(f.LRSchedule, lr, totalSteps)
	if err != nil {
		return usageError{err}
	}
	sess, err := training.NewSession(training.Config{
		Model: m, Optimizer: f.Optimizer, LearningRate: lr, LRSchedule: sched, Momentum: f.Momentum,
		Nesterov: f.Nesterov, WeightDecay: f.WeightDecay, BatchSize: f.Batch, EvalEvery: f.EvalEvery,
		Seed: f.Seed, Progress: f.Progress, Log: stdout,
	})
	if err != nil {
		return usageError{err}
	}
	if err := sess.SetTrainData(split.train); err != nil {
		return err
	}
	rc := runConfig{Model: m.Name, Dataset: f.Dataset, Steps: length.String(), Optimizer: sess.Config().Optimizer,
		LRSchedule: f.LRSchedule, LR: sess.Config().LearningRate, Momentum: f.Momentum, WeightDecay: f.WeightDecay,
		Nesterov: f.Nesterov, Batch: f.Batch, Validation: f.Validation, TrainLimit: f.TrainLimit, Seed: f.Seed}
	dir := filepath.Join(f.Out, fmt.Sprintf("train-%s-%s", m.Name, hash(rc)))
	reason := backend.DefaultChoice().Reason
	if backend.DefaultChoice().Fallback {
		reason = "fallback, see above"
	}
	fmt.Fprintf(stdout, "prunelab train: %s on %s (train %d, validation %d, test %d images; %s)\n",
		m.Name, f.Dataset, split.train.N, split.val.N, split.test.N, split.source)
	fmt.Fprintf(stdout, "backend %q (%s), %d CPUs; %d steps of batch %d (%.3g epochs), %s lr %g, seed %d\n",
		sess.Backend().Name(), reason, runtime.NumCPU(), totalSteps, f.Batch,
		float64(totalSteps)/float64(sess.StepsPerEpoch()), sess.Config().Optimizer, sess.Config().LearningRate, f.Seed)

	evals := []training.EvalSet{{Name: "validation", Images: split.val}, {Name: "test", Images: split.test}}
	if split.val.N == 0 {
		evals = evals[1:]
	}
	res, err := sess.Train(length, evals...)
	if err != nil {
		return err
	}
	if err := writeTrainRun(dir, rc, res, sess, f.Checkpoint); err != nil {
		return err
	}
	test := res.Final["test"]
	msPerStep := 0.0
	if res.Steps > 0 {
		msPerStep = float64(res.TrainDuration.Milliseconds()) / float64(res.Steps)
	}
	fmt.Fprintf(stdout, "\nResult: test accuracy %.2f%% (loss %.4f) after %d steps; training %.1f s (%.1f ms/step), total %.1f s.\n",
		100*test.Accuracy, test.Loss, res.EndStep, res.TrainDuration.Seconds(), msPerStep, time.Since(start).Seconds())
	if step, ok := res.History.EarlyStopStep("validation"); ok {
		at, _ := res.History.At("test", step)
		fmt.Fprintf(stdout, "Early-stopping iteration (minimum validation loss): step %d, test accuracy %.2f%% there.\n", step, 100*at.Accuracy)
	}
	fmt.Fprintf(stdout, "Files: %s/ (config.json, result.json, history.json, history.csv, training_curves.png/.svg%s)\n", dir,
		map[bool]string{true: ", checkpoint/", false: ""}[f.Checkpoint])
	return nil
}

// splits are the three image sets of a run.
type splits struct {
	train, val, test *datasets.Images
	source           string
}

// trainResult is result.json of a training run.
type trainResult struct {
	Model            string                      `json:"model"`
	Backend          string                      `json:"backend"`
	Steps            int                         `json:"steps"`
	TrainSeconds     float64                     `json:"train_seconds"`
	FirstStepSeconds float64                     `json:"first_step_seconds"`
	EpochSeconds     []float64                   `json:"epoch_seconds"` // training time of each full epoch
	TotalSeconds     float64                     `json:"total_seconds"`
	Final            map[string]training.Metrics `json:"final"`
	EarlyStopStep    int                         `json:"early_stop_step,omitempty"`
	EarlyStopTest    *training.Metrics           `json:"early_stop_test,omitempty"`
	GoVersion        string                      `json:"go_version"`
	Finished         time.Time                   `json:"finished"`
}

func writeTrainRun(dir string, rc runConfig, res *training.Result, sess *training.Session, checkpoint bool) error {
	stepsPerEpoch := sess.StepsPerEpoch()
	if err := atomicfile.WriteJSON(filepath.Join(dir, "config.json"), rc); err != nil {
		return err
	}
	if err := atomicfile.WriteJSON(filepath.Join(dir, "history.json"), res.History); err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(dir, "history.csv"), func(w io.Writer) error {
		if _, err := fmt.Fprintln(w, "step,split,loss,accuracy"); err != nil {
			return err
		}
		for _, p := range res.History {
			if _, err := fmt.Fprintf(w, "%d,%s,%.6g,%.6g\n", p.Step, p.Split, p.Loss, p.Accuracy); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return err
	}
	if checkpoint {
		if err := sess.Save(filepath.Join(dir, "checkpoint"), 1); err != nil {
			return err
		}
	}
	r := trainResult{Model: rc.Model, Backend: sess.Backend().Name(), Steps: res.EndStep,
		TrainSeconds: res.TrainDuration.Seconds(), FirstStepSeconds: res.FirstStepDuration.Seconds(), TotalSeconds: res.Duration.Seconds(), Final: res.Final,
		GoVersion: runtime.Version(), Finished: time.Now().UTC()}
	for i := 0; stepsPerEpoch > 0 && i+stepsPerEpoch <= len(res.StepDurations); i += stepsPerEpoch {
		var d time.Duration
		for _, s := range res.StepDurations[i : i+stepsPerEpoch] {
			d += s
		}
		r.EpochSeconds = append(r.EpochSeconds, d.Seconds())
	}
	if step, ok := res.History.EarlyStopStep("validation"); ok {
		r.EarlyStopStep = step
		if at, ok := res.History.At("test", step); ok {
			r.EarlyStopTest = &at
		}
	}
	if len(res.History) > 0 {
		f, err := report.TrainFigure(dir)
		if err != nil {
			return err
		}
		if _, err := report.WriteFigures(dir, []report.Figure{f}); err != nil {
			return err
		}
	}
	return atomicfile.WriteJSON(filepath.Join(dir, "result.json"), r)
}
