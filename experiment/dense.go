package experiment

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/train/losses"

	"github.com/prunelab/prunelab/backend"
	"github.com/prunelab/prunelab/datasets"
	"github.com/prunelab/prunelab/models"
	"github.com/prunelab/prunelab/onnxmodel"
	"github.com/prunelab/prunelab/pruning"
	"github.com/prunelab/prunelab/training"
)

// DenseOptions choose the dense model a pruning flow starts from: a training run directory (From),
// or the training run the other fields describe, trained first (and written like [Train] writes
// it) when its directory holds no checkpoint yet, reused afterwards.
//
// The zero value is LeNet-300-100 on its own data set (MNIST) for 3 epochs of Adam 1.2e-3, batch 60,
// seed 0, no validation images, under runs/.
type DenseOptions struct {
	// From is a training run directory (its config.json and checkpoint/). When set, the run's own
	// settings are used and Model, Dataset, Dense, Optimizer, Batch, Validation, TrainLimit and
	// Seed are ignored.
	From string
	// Model (default "lenet-300-100") and Dataset (default: the model's own) of the dense run.
	Model, Dataset string
	// DataDir holds the dataset files (see [DataOptions.Dir]).
	DataDir string
	// Dense is the dense training length, "2000it" or "3ep" (default "3ep").
	Dense string
	// Optimizer is "adam" (default), "sgd" or "momentum".
	Optimizer string
	// LRSchedule is the learning-rate schedule of dense training, as [TrainOptions].LRSchedule
	// ("constant", the default, "cosine", "cosine:WARMUP_STEPS", "step:GAMMA@STEP1,..."), so that
	// a flow finds the run "prunelab train -lr-schedule" wrote. Fine-tuning runs at LR, constant.
	LRSchedule string
	// LR is the learning rate of dense training and of fine-tuning (0: 1.2e-3 for Adam, 0.1
	// otherwise; with From, the training run's for both unless set).
	LR float64
	// Batch is the batch size (default 60); EvalEvery evaluates every N steps (0: each epoch).
	Batch, EvalEvery int
	// Validation training images are held out; TrainLimit > 0 keeps only that many training
	// images, TestLimit > 0 evaluates on the first that many test images.
	Validation, TrainLimit, TestLimit int
	Seed                              int64
	// Out is the directory run directories go under (default "runs").
	Out string
	// Progress shows progress bars (in a terminal); Log receives progress lines (nil: none).
	Progress bool
	Log      io.Writer
	// ONNX is an ONNX model file to start from instead of a training run: its weights are the
	// dense model (nothing is trained; Model, Dense and From are ignored). Dataset defaults to
	// "mnist"; its images must fit the model's input (see onnxmodel.Model.ForImages).
	ONNX string
}

func (o DenseOptions) withDefaults() DenseOptions {
	if o.Model == "" {
		o.Model = "lenet-300-100"
	}
	if o.Dense == "" {
		o.Dense = "3ep"
	}
	if o.Optimizer == "" {
		o.Optimizer = training.Adam
	}
	if o.LRSchedule == "" {
		o.LRSchedule = "constant"
	}
	if o.Batch == 0 {
		o.Batch = 60
	}
	if o.Out == "" {
		o.Out = "runs"
	}
	return o
}

// Dense is a trained dense model in a training session, ready to be pruned.
type Dense struct {
	Model models.Model
	Data  *Splits
	// Session holds the model; after [Dense.InstallMasks] it trains with masks. Whatever trains it
	// after OpenDense fine-tunes, at the fine-tuning learning rate (DenseOptions.LR), constant.
	Session *training.Session
	// Config is the training run's configuration, Dir its directory.
	Config TrainConfig
	Dir    string
	// ONNX is the imported model when the flow started from an ONNX file (DenseOptions.ONNX).
	ONNX *onnxmodel.Model
	// lr is the fine-tuning learning rate; fineTuning switches the session's schedule to it.
	lr         float64
	fineTuning bool
}

// ResolveDense says which training run o starts from, without loading or training anything: the
// run's configuration, its model and its directory. It checks the options (an [ErrOptions] when
// wrong), so a flow fails on bad input before any data is read.
func ResolveDense(o DenseOptions) (TrainConfig, models.Model, string, error) {
	r, err := resolveDense(o)
	return r.config, r.model, r.dir, err
}

// resolved is what resolveDense finds: [ResolveDense]'s results, and the opened ONNX model when
// the flow starts from one (DenseOptions.ONNX), so that the file is read and parsed once.
type resolved struct {
	config TrainConfig
	model  models.Model
	dir    string
	onnx   *onnxmodel.Model
}

// resolveDense is [ResolveDense], keeping the opened ONNX model (see resolved).
func resolveDense(o DenseOptions) (resolved, error) {
	o = o.withDefaults()
	if o.ONNX != "" {
		rc, m, om, err := resolveONNX(o)
		return resolved{rc, m, rc.Dir(o.Out), om}, err
	}
	rc, m, dir, err := resolveRun(o)
	return resolved{rc, m, dir, nil}, err
}

// resolveRun resolves a dense model that is a training run (o.From, or the run o describes).
func resolveRun(o DenseOptions) (TrainConfig, models.Model, string, error) {
	var rc TrainConfig
	if o.From == "" {
		m, err := imageModel(o.Model)
		if err != nil {
			return rc, m, "", err
		}
		length, err := training.ParseLength(o.Dense)
		if err != nil {
			return rc, m, "", badOptions(err)
		}
		dataset := o.Dataset
		if dataset == "" {
			dataset = m.Dataset
		}
		lr := o.LR
		if lr == 0 {
			lr = defaultLR(o.Optimizer)
		}
		if _, err := training.ParseLRSchedule(o.LRSchedule, lr, 0); err != nil { // the length is checked on training
			return rc, m, "", badOptions(err)
		}
		rc = TrainConfig{Model: m.Name, Dataset: dataset, Steps: length.String(), Optimizer: o.Optimizer,
			LRSchedule: o.LRSchedule, LR: lr, Momentum: 0.9, Batch: o.Batch, Validation: o.Validation,
			TrainLimit: o.TrainLimit, Seed: o.Seed}
		return rc, m, rc.Dir(o.Out), nil
	}
	if _, err := os.Stat(filepath.Join(o.From, ConfigFile)); err != nil {
		return rc, models.Model{}, "", badOptionsf("-from %s: not a train run directory: %w", o.From, err)
	}
	if err := readJSON(filepath.Join(o.From, ConfigFile), &rc); err != nil {
		return rc, models.Model{}, "", fmt.Errorf("-from %s: %w", o.From, err)
	}
	if _, err := os.Stat(filepath.Join(o.From, CheckpointDir)); err != nil {
		return rc, models.Model{}, "", badOptionsf("-from %s has no checkpoint (run \"prunelab train\" with -checkpoint)",
			o.From)
	}
	m, err := models.ByName(rc.Model)
	return rc, m, o.From, err
}

// OpenDense loads the data and the dense model o describes: it restores the training run's
// checkpoint, or trains the run first when there is none.
func OpenDense(o DenseOptions) (*Dense, error) {
	r, err := resolveDense(o)
	if err != nil {
		return nil, err
	}
	return openDense(o, r)
}

// openDense is [OpenDense] for options already resolved by resolveDense (the flows resolve first,
// to name their run directory, and open only when they run).
func openDense(o DenseOptions, r resolved) (*Dense, error) {
	o = o.withDefaults()
	rc, m, dir, om := r.config, r.model, r.dir, r.onnx
	log := logger(o.Log)
	split, err := LoadData(DataOptions{Dataset: rc.Dataset, Dir: o.DataDir, Validation: rc.Validation,
		TrainLimit: rc.TrainLimit, TestLimit: o.TestLimit, Seed: rc.Seed})
	if err != nil {
		return nil, err
	}
	lr := rc.LR // fine-tuning uses the dense run's learning rate unless o.LR says otherwise
	if o.LR != 0 {
		lr = o.LR
	}
	cfg := training.Config{Model: m, Optimizer: rc.Optimizer, LearningRate: rc.LR, Momentum: rc.Momentum,
		BatchSize: rc.Batch, EvalEvery: o.EvalEvery, Seed: rc.Seed, Progress: o.Progress, Log: o.Log}
	d := &Dense{Model: m, Data: split, Config: rc, Dir: dir, ONNX: om, lr: lr}
	length, err := training.ParseLength(rc.Steps)
	if err != nil {
		return nil, err
	}
	dense, err := training.ParseLRSchedule(rc.LRSchedule, rc.LR, length.StepsFor(split.Train.N/rc.Batch))
	if err != nil {
		return nil, badOptions(err)
	}
	if lr != rc.LR || (rc.LRSchedule != "" && rc.LRSchedule != "constant") {
		// The session applies the schedule before the first step of each Train and after every
		// step, so fine-tuning runs at lr, constant, from its first step.
		cfg.LRSchedule = training.LRFunc(func(step int) float64 {
			if d.fineTuning {
				return lr
			}
			return dense.LearningRate(step)
		})
	}
	sess, err := training.NewSession(cfg)
	if err != nil {
		return nil, badOptions(err)
	}
	if err := sess.SetTrainData(split.Train); err != nil {
		return nil, err
	}
	d.Session = sess
	fmt.Fprintf(log, "%s on %s (train %d, validation %d, test %d images; %s); backend %q\n", m.Name, rc.Dataset,
		split.Train.N, split.Validation.N, split.Test.N, split.Source, sess.Backend().Name())
	if d.ONNX != nil {
		fmt.Fprintf(log, "Dense model: %s (ONNX, %s, SHA-256 %s...)\n", d.ONNX.Path, d.ONNX.Producer, d.ONNX.SHA256[:12])
		d.fineTuning = true
		return d, nil
	}
	ckpt := filepath.Join(dir, CheckpointDir)
	if _, err := os.Stat(filepath.Join(dir, ResultFile)); err == nil {
		if _, err := os.Stat(ckpt); err == nil {
			fmt.Fprintf(log, "Dense model: %s (restored)\n", dir)
			d.fineTuning = true // whatever trains it from here fine-tunes, at lr
			return d, sess.Load(ckpt)
		}
	}
	fmt.Fprintf(log, "Dense model: training %s (%d steps) into %s\n", length, length.StepsFor(sess.StepsPerEpoch()), dir)
	res, err := sess.Train(length, evalSets(split)...)
	if err != nil {
		return nil, err
	}
	run := &TrainRun{Dir: dir, Config: rc, Session: sess, Checkpoint: true}
	if err := run.write(res); err != nil {
		return nil, err
	}
	d.fineTuning = true
	return d, nil
}

// InstallMasks wraps the model so that the variables sel selects get masks, and builds it once (an
// evaluation on the test set, whose metrics it returns) so that the masks exist. From then on the
// session fine-tunes at the fine-tuning learning rate. When cfg's criterion scores with gradients
// (Taylor, SNIP, movement), it also sets cfg.Gradients.
func (d *Dense) InstallMasks(sel pruning.Selector, cfg *pruning.Config) (training.Metrics, error) {
	sel = modelSelector(d.Model, sel)
	d.fineTuning = true
	d.Session.SetModel(models.BuildFn(pruning.WrapModelFn(pruning.ModelFn(d.Model.Build), sel)))
	test, err := d.Session.Evaluate(d.Data.Test)
	if err != nil || !needsGradients(cfg.Criterion) {
		return test, err
	}
	cfg.Gradients, err = d.Gradients()
	return test, err
}

// needsGradients reports whether a criterion reads gradients.
func needsGradients(c pruning.Criterion) bool {
	switch c := c.(type) {
	case pruning.TaylorCriterion, pruning.SNIPCriterion, pruning.MovementCriterion:
		return true
	case layerNormalized:
		return needsGradients(c.Criterion)
	}
	return false
}

// Gradients is a gradient source for gradient-based criteria: shuffled batches of the training
// images.
func (d *Dense) Gradients() (pruning.GradientSource, error) {
	return SessionGradients(d.Session, d.Model, d.Data.Train, d.Config.Seed+1)
}

// SessionGradients is a gradient source for the gradient criteria (Taylor, SNIP, movement) over
// shuffled batches of im (the session's batch size and normalization, seeded), for a session
// whose model is m with masks (or without).
func SessionGradients(s *training.Session, m models.Model, im *datasets.Images, seed int64) (pruning.GradientSource, error) {
	b, err := datasets.NewBatches(im, datasets.BatchConfig{BatchSize: s.Config().BatchSize, Shuffle: true,
		Seed: seed, DropRemainder: true, Loop: true, Normalization: s.Config().Normalization})
	if err != nil {
		return nil, err
	}
	model := pruning.AsTrainModelFn(pruning.ModelFn(m.Build))
	return pruning.NewDatasetGradients(s.Backend(), s.Context(), model,
		losses.SparseCategoricalCrossEntropyLogits, b), nil
}

// Report measures the model and reports its parameters, non-zeros and FLOPs.
func (d *Dense) Report() (*pruning.Report, error) { return SessionReport(d.Session, d.Model) }

// SessionReport measures a session's model m (masked or not) and reports its parameters,
// non-zeros, FLOPs, compression and theoretical speedup (see [pruning.Report]).
func SessionReport(s *training.Session, m models.Model) (*pruning.Report, error) {
	input := shapes.Make(dtypes.Float32, append([]int{1}, m.InputShape...)...)
	info, err := pruning.MeasureModel(s.Backend(), s.Context(), pruning.ModelFn(m.Build), input)
	if err != nil {
		return nil, err
	}
	return pruning.NewReport(s.Context(), info)
}

// PrunableLayers lists the variables of model m that sel selects, by building the model once in a
// scratch context (no data, no training): bad layer names and structures fail before any training.
func PrunableLayers(m models.Model, sel pruning.Selector) ([]pruning.Target, error) {
	b, err := backend.Default()
	if err != nil {
		return nil, err
	}
	ctx := context.New()
	if m.Init != nil {
		if err := m.Init(ctx); err != nil {
			return nil, err
		}
	}
	input := shapes.Make(dtypes.Float32, append([]int{1}, m.InputShape...)...)
	if _, err := pruning.MeasureModel(b, ctx, pruning.ModelFn(m.Build), input); err != nil {
		return nil, err
	}
	targets, err := pruning.SelectTargets(ctx, modelSelector(m, sel))
	if err != nil {
		return nil, badOptions(err)
	}
	return targets, nil
}

// imageModel returns the registry's model of that name, checking that it classifies images (its
// data set one of package datasets'): the classification flows cannot train a language model such as
// gpt-tiny ([LMTrain] and [LMOneShot], "prunelab lm", train and prune those). Both faults are
// [ErrOptions].
func imageModel(name string) (models.Model, error) {
	m, err := models.ByName(name)
	if err != nil {
		return m, badOptions(err)
	}
	if m.Dataset != "" && !slices.Contains(datasets.Names(), m.Dataset) {
		return m, badOptionsf("%s is not an image classifier (its data is %q): the classification flows do not train it; "+
			"for gpt-tiny use \"prunelab lm train\" and \"prunelab lm oneshot\" (experiment.LMTrain, LMOneShot; package lm)",
			m.Name, m.Dataset)
	}
	return m, nil
}

// AccuracyOn returns an evaluation function for [pruning.Sensitivity]: the session's accuracy on im.
func AccuracyOn(s *training.Session, im *datasets.Images) func() (float64, error) {
	return func() (float64, error) {
		m, err := s.Evaluate(im)
		return m.Accuracy, err
	}
}

// NewMaskedSession is a training session for the named registry model with pruning masks attached
// to every weight matrix and convolution kernel: pruning then never needs the model's code changed.
func NewMaskedSession(model string, seed int64) (*training.Session, error) {
	m, err := models.ByName(model)
	if err != nil {
		return nil, badOptions(err)
	}
	s, err := training.NewSession(training.Config{Model: m, Seed: seed})
	if err != nil {
		return nil, err
	}
	s.SetModel(MaskedBuild(m))
	return s, nil
}

// MaskedBuild is m's build function with masks on every weight matrix and convolution kernel
// (pruned weights stay zero after every optimizer step, whatever the loss).
func MaskedBuild(m models.Model) models.BuildFn {
	return models.BuildFn(pruning.WrapModelFn(pruning.ModelFn(m.Build), modelSelector(m, pruning.Selector{})))
}

// modelSelector is sel, or, for a model that lists its prunable variables (an imported ONNX
// model) when sel includes nothing explicitly, exactly those (with sel's Skip).
func modelSelector(m models.Model, sel pruning.Selector) pruning.Selector {
	if len(sel.Include) == 0 && m.Prunable != nil {
		skip := sel.Skip
		sel = pruning.Exactly(m.Prunable...)
		sel.Skip = skip
	}
	return sel
}
