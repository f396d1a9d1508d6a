package experiment

import (
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"time"

	"github.com/prunelab/prunelab/backend"
	"github.com/prunelab/prunelab/internal/atomicfile"
	"github.com/prunelab/prunelab/report"
	"github.com/prunelab/prunelab/training"
)

// TrainConfig is what changes a training run's numbers: it is hashed to name the run directory
// (train-MODEL-HASH) and saved in it as config.json. Prune and sensitivity runs find their dense
// model by it.
type TrainConfig struct {
	Model, Dataset, Steps, Optimizer, LRSchedule string
	LR, Momentum, WeightDecay                    float64
	Nesterov                                     bool
	Batch, Validation, TrainLimit                int
	Seed                                         int64
	// ONNX is the SHA-256 of the ONNX file the model was imported from (DenseOptions.ONNX), ""
	// for a model trained here.
	ONNX string `json:",omitempty"`
}

// Dir is the run directory of this configuration under out.
func (c TrainConfig) Dir(out string) string {
	return filepath.Join(out, fmt.Sprintf("train-%s-%s", c.Model, Hash(c)))
}

// TrainOptions are the settings of [Train]. The zero value trains LeNet-300-100 on MNIST for 3
// epochs with Adam 1.2e-3, batch 60, seed 0, no validation images, into runs/.
type TrainOptions struct {
	// Model is a registry name (default "lenet-300-100"); Dataset defaults to the model's own.
	Model, Dataset string
	// DataDir holds the dataset files (see [DataOptions.Dir]).
	DataDir string
	// Steps is the training length, "2000it" or "3ep" (default "3ep").
	Steps string
	// Optimizer is "adam" (default), "sgd" or "momentum"; LR defaults to 1.2e-3 for Adam and 0.1
	// otherwise; LRSchedule is "constant" (default), "cosine", "cosine:WARMUP_STEPS" or
	// "step:GAMMA@STEP1,STEP2" (see [training.ParseLRSchedule]).
	Optimizer, LRSchedule string
	LR                    float64
	// Momentum of the momentum optimizer (0 means 0.9); Nesterov momentum; L2 weight decay.
	Momentum, WeightDecay float64
	Nesterov              bool
	// Batch is the batch size (default 60); EvalEvery evaluates every N steps (0: once per epoch).
	Batch, EvalEvery int
	// Validation training images are held out (the early-stopping set); TrainLimit > 0 keeps only
	// that many training images.
	Validation, TrainLimit int
	Seed                   int64
	// Out is the directory run directories go under (default "runs").
	Out string
	// SkipCheckpoint leaves the trained model's checkpoint out of the run directory.
	SkipCheckpoint bool
	// Progress shows a progress bar (in a terminal); Log receives progress lines (nil: none).
	Progress bool
	Log      io.Writer
}

func (o TrainOptions) withDefaults() TrainOptions {
	if o.Model == "" {
		o.Model = "lenet-300-100"
	}
	if o.Steps == "" {
		o.Steps = "3ep"
	}
	if o.Optimizer == "" {
		o.Optimizer = training.Adam
	}
	if o.LRSchedule == "" {
		o.LRSchedule = "constant"
	}
	if o.LR == 0 {
		o.LR = defaultLR(o.Optimizer)
	}
	if o.Momentum == 0 {
		o.Momentum = 0.9
	}
	if o.Batch == 0 {
		o.Batch = 60
	}
	if o.Out == "" {
		o.Out = "runs"
	}
	return o
}

// defaultLR is the learning rate of an optimizer when none is given: the Lottery Ticket setup's
// 1.2e-3 for Adam, 0.1 for SGD.
func defaultLR(optimizer string) float64 {
	if optimizer == training.Adam {
		return 1.2e-3
	}
	return 0.1
}

// TrainResult is result.json of a training run.
type TrainResult struct {
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

// TrainRun is a finished training run.
type TrainRun struct {
	Dir    string
	Config TrainConfig
	Result TrainResult
	// Session holds the trained model (with its data set); History every evaluation.
	Session *training.Session
	History training.History
	// Checkpoint says whether Dir holds the checkpoint.
	Checkpoint bool
	// Elapsed is the whole run's time, data loading included.
	Elapsed time.Duration
}

// Train trains a model from the registry, evaluates it on the validation and test images, and
// writes the run directory: config.json, history.json/.csv, result.json, training_curves.png/.svg
// and the checkpoint. The same options write to the same directory.
func Train(o TrainOptions) (*TrainRun, error) {
	o = o.withDefaults()
	log := logger(o.Log)
	m, err := imageModel(o.Model)
	if err != nil {
		return nil, err
	}
	length, err := training.ParseLength(o.Steps)
	if err != nil {
		return nil, badOptions(err)
	}
	if o.Dataset == "" {
		o.Dataset = m.Dataset
	}
	start := time.Now()
	split, err := LoadData(DataOptions{Dataset: o.Dataset, Dir: o.DataDir, Validation: o.Validation,
		TrainLimit: o.TrainLimit, Seed: o.Seed})
	if err != nil {
		return nil, err
	}
	totalSteps := length.StepsFor(split.Train.N / o.Batch)
	sched, err := training.ParseLRSchedule(o.LRSchedule, o.LR, totalSteps)
	if err != nil {
		return nil, badOptions(err)
	}
	sess, err := training.NewSession(training.Config{
		Model: m, Optimizer: o.Optimizer, LearningRate: o.LR, LRSchedule: sched, Momentum: o.Momentum,
		Nesterov: o.Nesterov, WeightDecay: o.WeightDecay, BatchSize: o.Batch, EvalEvery: o.EvalEvery,
		Seed: o.Seed, Progress: o.Progress, Log: o.Log,
	})
	if err != nil {
		return nil, badOptions(err)
	}
	if err := sess.SetTrainData(split.Train); err != nil {
		return nil, err
	}
	rc := TrainConfig{Model: m.Name, Dataset: o.Dataset, Steps: length.String(), Optimizer: sess.Config().Optimizer,
		LRSchedule: o.LRSchedule, LR: sess.Config().LearningRate, Momentum: o.Momentum, WeightDecay: o.WeightDecay,
		Nesterov: o.Nesterov, Batch: o.Batch, Validation: o.Validation, TrainLimit: o.TrainLimit, Seed: o.Seed}
	reason := backend.DefaultChoice().Reason
	if backend.DefaultChoice().Fallback {
		reason = "fallback, see above"
	}
	fmt.Fprintf(log, "prunelab train: %s on %s (train %d, validation %d, test %d images; %s)\n",
		m.Name, o.Dataset, split.Train.N, split.Validation.N, split.Test.N, split.Source)
	fmt.Fprintf(log, "backend %q (%s), %d CPUs; %d steps of batch %d (%.3g epochs), %s lr %g, seed %d\n",
		sess.Backend().Name(), reason, runtime.NumCPU(), totalSteps, o.Batch,
		float64(totalSteps)/float64(sess.StepsPerEpoch()), sess.Config().Optimizer, sess.Config().LearningRate, o.Seed)
	res, err := sess.Train(length, evalSets(split)...)
	if err != nil {
		return nil, err
	}
	run := &TrainRun{Dir: rc.Dir(o.Out), Config: rc, Session: sess, History: res.History, Checkpoint: !o.SkipCheckpoint}
	if err := run.write(res); err != nil {
		return nil, err
	}
	run.Elapsed = time.Since(start)
	return run, nil
}

// evalSets are the sets evaluated during training: validation (if any) and test.
func evalSets(s *Splits) []training.EvalSet {
	evals := []training.EvalSet{{Name: "validation", Images: s.Validation}, {Name: "test", Images: s.Test}}
	if s.Validation.N == 0 {
		evals = evals[1:]
	}
	return evals
}

// write fills in the result and writes the run directory, result.json last.
func (run *TrainRun) write(res *training.Result) error {
	dir, sess := run.Dir, run.Session
	if err := atomicfile.WriteJSON(filepath.Join(dir, ConfigFile), run.Config); err != nil {
		return err
	}
	if err := writeHistory(dir, res.History); err != nil {
		return err
	}
	if run.Checkpoint {
		if err := sess.Save(filepath.Join(dir, CheckpointDir), 1); err != nil {
			return err
		}
	}
	r := TrainResult{Model: run.Config.Model, Backend: sess.Backend().Name(), Steps: res.EndStep,
		TrainSeconds: res.TrainDuration.Seconds(), FirstStepSeconds: res.FirstStepDuration.Seconds(),
		EpochSeconds: epochSeconds(res, sess.StepsPerEpoch()), TotalSeconds: res.Duration.Seconds(), Final: res.Final,
		GoVersion: runtime.Version(), Finished: time.Now().UTC()}
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
	run.Result = r
	return atomicfile.WriteJSON(filepath.Join(dir, ResultFile), r)
}

// WriteSummary prints the run's result: test accuracy, time, the early-stopping iteration, files.
func (run *TrainRun) WriteSummary(w io.Writer) {
	r := run.Result
	test := r.Final["test"]
	msPerStep := 0.0
	if r.Steps > 0 {
		msPerStep = 1000 * r.TrainSeconds / float64(r.Steps)
	}
	fmt.Fprintf(w, "\nResult: test accuracy %.2f%% (loss %.4f) after %d steps; training %.1f s (%.1f ms/step), total %.1f s.\n",
		100*test.Accuracy, test.Loss, r.Steps, r.TrainSeconds, msPerStep, run.Elapsed.Seconds())
	if step, ok := run.History.EarlyStopStep("validation"); ok {
		at, _ := run.History.At("test", step)
		fmt.Fprintf(w, "Early-stopping iteration (minimum validation loss): step %d, test accuracy %.2f%% there.\n", step, 100*at.Accuracy)
	}
	ckpt := ""
	if run.Checkpoint {
		ckpt = ", " + CheckpointDir + "/"
	}
	fmt.Fprintf(w, "Files: %s/ (config.json, result.json, history.json, history.csv, training_curves.png/.svg%s)\n",
		run.Dir, ckpt)
}
