package distill

import (
	"fmt"
	"io"
	"math"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/prunelab/prunelab/datasets"
	"github.com/prunelab/prunelab/models"
	"github.com/prunelab/prunelab/program"
	"github.com/prunelab/prunelab/pruning"
	"github.com/prunelab/prunelab/quantize"
	"github.com/prunelab/prunelab/training"
)

// Experiment compares distillation with plain fine-tuning for a pruned model, per seed: train the
// dense teacher, prune it once (Prune, to Sparsity), then from the same pruned weights fine-tune once
// with the true labels alone (the training driver's cross-entropy) and once with [FineTune]
// (distillation from the dense teacher's logits), and measure the test accuracy of each, in float32
// and, with Quantize, after INT8 quantization (package quantize, calibrated on training images).
type Experiment struct {
	Model       models.Model
	Train, Test *datasets.Images
	// Sparsity of the pruned student (default 0.95).
	Sparsity float64
	// Prune says how (default: unstructured global magnitude pruning).
	Prune pruning.Config
	// TeacherLength and FineTuneLength are the training lengths (defaults 3 and 1 epochs).
	TeacherLength, FineTuneLength training.Length
	// Seeds (default 1, 2, 3).
	Seeds []int64
	// Distill configures the distillation loss.
	Distill Config
	// Quantize also measures the accuracy of both students after INT8 quantization.
	Quantize bool
	// Session is the training configuration (Model and Seed are set per run).
	Session training.Config
	// Log receives progress lines; nil is silent.
	Log io.Writer
}

// SeedResult holds the test accuracies of one seed.
type SeedResult struct {
	Seed          int64   `json:"seed"`
	Teacher       float64 `json:"teacher"`
	Pruned        float64 `json:"pruned"`
	FineTuned     float64 `json:"fine_tuned"`
	Distilled     float64 `json:"distilled"`
	FineTunedInt8 float64 `json:"fine_tuned_int8,omitempty"`
	DistilledInt8 float64 `json:"distilled_int8,omitempty"`
	// Seconds of fine-tuning, plain and distilled.
	FineTuneSeconds float64 `json:"fine_tune_seconds"`
	DistillSeconds  float64 `json:"distill_seconds"`
}

// Stat is a mean and a sample standard deviation.
type Stat struct {
	Mean float64 `json:"mean"`
	Std  float64 `json:"std"`
}

func (s Stat) String() string { return fmt.Sprintf("%.2f%% ± %.2f", 100*s.Mean, 100*s.Std) }

// Result is an Experiment's outcome.
type Result struct {
	Model         string       `json:"model"`
	Sparsity      float64      `json:"sparsity"`
	Temperature   float64      `json:"temperature"`
	Alpha         float64      `json:"alpha"`
	Seeds         []SeedResult `json:"seeds"`
	Teacher       Stat         `json:"teacher"`
	Pruned        Stat         `json:"pruned"`
	FineTuned     Stat         `json:"fine_tuned"`
	Distilled     Stat         `json:"distilled"`
	FineTunedInt8 *Stat        `json:"fine_tuned_int8,omitempty"`
	DistilledInt8 *Stat        `json:"distilled_int8,omitempty"`
}

func stat(xs []float64) Stat {
	var s Stat
	for _, x := range xs {
		s.Mean += x / float64(len(xs))
	}
	if len(xs) > 1 {
		for _, x := range xs {
			s.Std += (x - s.Mean) * (x - s.Mean) / float64(len(xs)-1)
		}
		s.Std = math.Sqrt(s.Std)
	}
	return s
}

// Run runs the experiment.
func (e Experiment) Run() (*Result, error) {
	if e.Sparsity == 0 {
		e.Sparsity = 0.95
	}
	if e.Prune.Allocation == nil {
		e.Prune.Allocation = pruning.Global{}
	}
	if e.TeacherLength == (training.Length{}) {
		e.TeacherLength = training.Length{Epochs: 3}
	}
	if e.FineTuneLength == (training.Length{}) {
		e.FineTuneLength = training.Length{Epochs: 1}
	}
	if len(e.Seeds) == 0 {
		e.Seeds = []int64{1, 2, 3}
	}
	cfg := e.Distill.withDefaults()
	res := &Result{Model: e.Model.Name, Sparsity: e.Sparsity, Temperature: cfg.Temperature, Alpha: cfg.Alpha}
	logf := func(format string, args ...any) {
		if e.Log != nil {
			fmt.Fprintf(e.Log, format+"\n", args...)
		}
	}
	for _, seed := range e.Seeds {
		r, err := e.runSeed(seed, cfg, logf)
		if err != nil {
			return nil, fmt.Errorf("distill: seed %d: %w", seed, err)
		}
		res.Seeds = append(res.Seeds, *r)
	}
	col := func(f func(SeedResult) float64) Stat {
		var xs []float64
		for _, s := range res.Seeds {
			xs = append(xs, f(s))
		}
		return stat(xs)
	}
	res.Teacher = col(func(s SeedResult) float64 { return s.Teacher })
	res.Pruned = col(func(s SeedResult) float64 { return s.Pruned })
	res.FineTuned = col(func(s SeedResult) float64 { return s.FineTuned })
	res.Distilled = col(func(s SeedResult) float64 { return s.Distilled })
	if e.Quantize {
		ft, di := col(func(s SeedResult) float64 { return s.FineTunedInt8 }), col(func(s SeedResult) float64 { return s.DistilledInt8 })
		res.FineTunedInt8, res.DistilledInt8 = &ft, &di
	}
	return res, nil
}

func (e Experiment) runSeed(seed int64, cfg Config, logf func(string, ...any)) (*SeedResult, error) {
	sc := e.Session
	sc.Model, sc.Seed = e.Model, seed
	sess, err := training.NewSession(sc)
	if err != nil {
		return nil, err
	}
	if err := sess.SetTrainData(e.Train); err != nil {
		return nil, err
	}
	r := &SeedResult{Seed: seed}
	if _, err := sess.Train(e.TeacherLength); err != nil {
		return nil, err
	}
	m, err := sess.Evaluate(e.Test)
	if err != nil {
		return nil, err
	}
	r.Teacher = m.Accuracy
	teacher, err := Logits(sess.Backend(), sess.Context(), e.Model.Build, e.Train, sess.Config().Normalization, 1000)
	if err != nil {
		return nil, err
	}
	masked := pruning.WrapModelFn(pruning.ModelFn(e.Model.Build), pruning.Selector{})
	sess.SetModel(models.BuildFn(masked))
	if _, err := sess.Evaluate(e.Test); err != nil { // creates the masks
		return nil, err
	}
	if _, err := pruning.PruneOnce(sess.Context(), e.Prune, pruning.Sparsity(e.Sparsity)); err != nil {
		return nil, err
	}
	if m, err = sess.Evaluate(e.Test); err != nil {
		return nil, err
	}
	r.Pruned = m.Accuracy
	logf("seed %d: teacher %.2f%%, pruned to %.0f%% %.2f%%", seed, 100*r.Teacher, 100*e.Sparsity, 100*r.Pruned)
	start, err := takeSnapshot(sess.Context())
	if err != nil {
		return nil, err
	}

	// Plain fine-tuning with the session's cross-entropy.
	if err := sess.ResetOptimizer(); err != nil {
		return nil, err
	}
	ft, err := sess.Train(e.FineTuneLength)
	if err != nil {
		return nil, err
	}
	r.FineTuneSeconds = ft.TrainDuration.Seconds()
	if m, err = sess.Evaluate(e.Test); err != nil {
		return nil, err
	}
	r.FineTuned = m.Accuracy
	if e.Quantize {
		if r.FineTunedInt8, err = e.int8Accuracy(sess); err != nil {
			return nil, err
		}
	}

	// Distillation from the same pruned weights.
	if err := start.restore(sess.Context()); err != nil {
		return nil, err
	}
	took, err := FineTune(sess, models.BuildFn(masked), e.Train, teacher, e.FineTuneLength, cfg)
	if err != nil {
		return nil, err
	}
	r.DistillSeconds = took.Seconds()
	if m, err = sess.Evaluate(e.Test); err != nil {
		return nil, err
	}
	r.Distilled = m.Accuracy
	if e.Quantize {
		if r.DistilledInt8, err = e.int8Accuracy(sess); err != nil {
			return nil, err
		}
	}
	logf("seed %d: fine-tuned %.2f%% (int8 %.2f%%), distilled %.2f%% (int8 %.2f%%)", seed, 100*r.FineTuned,
		100*r.FineTunedInt8, 100*r.Distilled, 100*r.DistilledInt8)
	return r, nil
}

// int8Accuracy quantizes the session's model (calibrated on 1024 training images), evaluates it,
// and puts the float32 weights back.
func (e Experiment) int8Accuracy(sess *training.Session) (float64, error) {
	acc, err := QuantizedAccuracy(sess, e.Model, e.Train, e.Test, 1024)
	return acc, err
}

// QuantizedAccuracy quantizes the weights of the session's model to INT8 (quantize.Calibrate on the
// first calib training images), evaluates the test accuracy, and restores the float32 weights.
func QuantizedAccuracy(sess *training.Session, model models.Model, train, test *datasets.Images, calib int) (float64, error) {
	ctx := sess.Context()
	p, err := program.Trace(sess.Backend(), ctx, model.Build, shapes.Make(dtypes.Float32, model.InputShape...))
	if err != nil {
		return 0, err
	}
	values, err := p.Values(ctx)
	if err != nil {
		return 0, err
	}
	x, err := Inputs(train, min(calib, train.N), sess.Config().Normalization)
	if err != nil {
		return 0, err
	}
	q, err := quantize.Calibrate(sess.Backend(), p, values, x, quantize.Config{})
	if err != nil {
		return 0, err
	}
	if err := p.SetValues(ctx, q.Dequantized(values)); err != nil {
		return 0, err
	}
	m, err := sess.Evaluate(test)
	if err != nil {
		return 0, err
	}
	return m.Accuracy, p.SetValues(ctx, values)
}

// Inputs returns the first n images of im as a float32 batch [n, height, width, channels].
func Inputs(im *datasets.Images, n int, norm datasets.Normalization) (*tensors.Tensor, error) {
	b, err := datasets.NewBatches(im, datasets.BatchConfig{BatchSize: n, Normalization: norm})
	if err != nil {
		return nil, err
	}
	_, inputs, _, err := b.Yield()
	if err != nil {
		return nil, err
	}
	return inputs[0], nil
}
