package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"time"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/prunelab/prunelab/compact"
	"github.com/prunelab/prunelab/datasets"
	"github.com/prunelab/prunelab/models"
	"github.com/prunelab/prunelab/program"
	"github.com/prunelab/prunelab/pruning"
	"github.com/prunelab/prunelab/training"
)

// pipelineFlags are the settings shared by compact, quantize and export: where the dense model comes
// from and how it is pruned and fine-tuned before the command's own step.
type pipelineFlags struct {
	Model, Dataset, Data, From, Train, Masks string
	Validation, TrainLimit, TestLimit        int
	Seed                                     int64
	Prune, FineTuneLR                        float64
	Structure, Allocation, FineTune          string
	Rounds                                   int
	Out                                      string
	Progress                                 bool
}

// pipelineDefaults are a command's defaults for the pruning flags.
type pipelineDefaults struct {
	prune               float64
	structure, finetune string
	rounds              int
}

func (f *pipelineFlags) register(fs *flag.FlagSet, d pipelineDefaults) {
	fs.StringVar(&f.Model, "model", "lenet-300-100", "model from the registry (ignored with -from)")
	fs.StringVar(&f.Dataset, "dataset", "", "dataset (default: the model's own)")
	fs.StringVar(&f.Data, "data", "", "directory holding the dataset files (default: $PRUNELAB_DATA, the cache, then download)")
	fs.StringVar(&f.From, "from", "", `a "prunelab train" run directory whose checkpoint is the dense model (default: train one)`)
	fs.StringVar(&f.Train, "train", "3ep", "training length of the dense model when there is no -from")
	fs.StringVar(&f.Masks, "masks", "", "a mask file (pruning.SaveMasks) to apply instead of pruning")
	fs.IntVar(&f.Validation, "validation", 0, "training images held out (not used for training)")
	fs.IntVar(&f.TrainLimit, "train-limit", 0, "use only the first N training images (0: all), for quick trials")
	fs.IntVar(&f.TestLimit, "test-limit", 0, "evaluate on the first N test images only (0: all), for quick trials")
	fs.Int64Var(&f.Seed, "seed", 1, "random seed")
	fs.Float64Var(&f.Prune, "prune", d.prune, "sparsity to prune to: fraction of weights (unstructured) or of channels (out_channels, groups); 0 keeps the model dense")
	fs.StringVar(&f.Structure, "structure", d.structure, `"unstructured", "out_channels" (neurons and filters, per layer) or "groups" (coupled channels, DepGraph-style: what compaction removes best)`)
	fs.StringVar(&f.Allocation, "allocation", "global", `how unstructured and out_channels sparsity spreads over layers: "global", "layerwise" or "erk"`)
	fs.IntVar(&f.Rounds, "rounds", d.rounds, "prune in this many rounds (geometric schedule), fine-tuning after each")
	fs.StringVar(&f.FineTune, "finetune", d.finetune, `fine-tuning after each pruning round ("0it": none)`)
	fs.Float64Var(&f.FineTuneLR, "finetune-lr", 1.2e-3, "Adam learning rate at the start of each fine-tuning round, decayed to 0 with a cosine over the round")
	fs.StringVar(&f.Out, "out", "runs", "directory under which the run directory is created")
	fs.BoolVar(&f.Progress, "progress", false, "show progress bars (only in a terminal)")
}

// pipeline holds a dense-then-pruned model in a training session.
type pipeline struct {
	f          pipelineFlags
	model      models.Model
	split      *splits
	sess       *training.Session
	masked     models.BuildFn
	out        io.Writer
	lr         *fineTuneLR
	DenseAcc   float64 `json:"dense_test_accuracy"`
	PrunedAcc  float64 `json:"pruned_test_accuracy"`
	Sparsity   float64 `json:"weight_sparsity"`
	PruneSteps []string
}

// newPipeline loads the data and the dense model (training it unless -from), evaluates it, and
// prunes it as the flags say.
func newPipeline(f pipelineFlags, out io.Writer) (*pipeline, error) {
	if f.From != "" {
		var rc runConfig
		b, err := os.ReadFile(filepath.Join(f.From, "config.json"))
		if err != nil {
			return nil, fmt.Errorf("-from %s: %w", f.From, err)
		}
		if err := json.Unmarshal(b, &rc); err != nil {
			return nil, fmt.Errorf("-from %s: config.json: %w", f.From, err)
		}
		f.Model, f.Dataset = rc.Model, rc.Dataset
	}
	m, err := models.ByName(f.Model)
	if err != nil {
		return nil, usageError{err}
	}
	if f.Dataset == "" {
		f.Dataset = m.Dataset
	}
	trainLen, err := training.ParseLength(f.Train)
	if err != nil {
		return nil, usageError{err}
	}
	ftLen, err := training.ParseLength(f.FineTune)
	if err != nil {
		return nil, usageError{err}
	}
	if !(f.Prune >= 0 && f.Prune < 1) || f.Rounds < 1 {
		return nil, usageError{fmt.Errorf("-prune %g must be in [0, 1) and -rounds %d at least 1", f.Prune, f.Rounds)}
	}
	if _, err := pruning.ParseAllocation(f.Allocation); err != nil {
		return nil, usageError{err}
	}
	switch f.Structure {
	case "unstructured", "out_channels", "groups":
	default:
		return nil, usageError{fmt.Errorf("unknown -structure %q (unstructured, out_channels, groups)", f.Structure)}
	}
	split, err := loadSplits(f.Dataset, f.Data, f.Validation, f.TrainLimit, f.Seed)
	if err != nil {
		return nil, err
	}
	if f.TestLimit > 0 && f.TestLimit < split.test.N {
		split.test = split.test.Subset(f.TestLimit)
	}
	// The learning rate: Adam's default while the dense model trains, then a cosine decay from
	// -finetune-lr to 0 over each fine-tuning round (ft.steps steps; the session counts steps from
	// each ResetOptimizer).
	ft := &fineTuneLR{}
	sess, err := training.NewSession(training.Config{Model: m, Seed: f.Seed, Progress: f.Progress,
		LRSchedule: training.LRFunc(ft.at)})
	if err != nil {
		return nil, err
	}
	if err := sess.SetTrainData(split.train); err != nil {
		return nil, err
	}
	pl := &pipeline{f: f, model: m, split: split, sess: sess, out: out, lr: ft}
	fmt.Fprintf(out, "%s on %s (train %d, test %d images; %s), backend %q, %d CPUs\n", m.Name, f.Dataset,
		split.train.N, split.test.N, split.source, sess.Backend().Name(), runtime.NumCPU())
	start := time.Now()
	if f.From != "" {
		if err := sess.Load(filepath.Join(f.From, "checkpoint")); err != nil {
			return nil, err
		}
	} else if _, err := sess.Train(trainLen); err != nil {
		return nil, err
	}
	if pl.DenseAcc, err = pl.accuracy(); err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "dense model: test accuracy %.2f%% (%.1f s)\n", 100*pl.DenseAcc, time.Since(start).Seconds())

	pl.masked = models.BuildFn(pruning.WrapModelFn(pruning.ModelFn(m.Build), pruning.Selector{}))
	sess.SetModel(pl.masked)
	if _, err := pl.accuracy(); err != nil { // builds the masks
		return nil, err
	}
	if err := pl.prune(ftLen); err != nil {
		return nil, err
	}
	if pl.PrunedAcc, err = pl.accuracy(); err != nil {
		return nil, err
	}
	masks, err := pruning.GetMasks(sess.Context())
	if err != nil {
		return nil, err
	}
	pl.Sparsity = masks.Sparsity()
	fmt.Fprintf(out, "pruned model: %.2f%% of the weights pruned, test accuracy %.2f%%\n", 100*pl.Sparsity, 100*pl.PrunedAcc)
	return pl, nil
}

func (pl *pipeline) accuracy() (float64, error) {
	m, err := pl.sess.Evaluate(pl.split.test)
	return m.Accuracy, err
}

// prune applies -masks, or prunes in -rounds rounds to -prune, fine-tuning after each round.
func (pl *pipeline) prune(ft training.Length) error {
	ctx := pl.sess.Context()
	if pl.f.Masks != "" {
		masks, err := pruning.LoadMasks(pl.f.Masks)
		if err != nil {
			return err
		}
		return pruning.SetMasks(ctx, masks)
	}
	if pl.f.Prune == 0 {
		return nil
	}
	alloc, _ := pruning.ParseAllocation(pl.f.Allocation)
	for r := 1; r <= pl.f.Rounds; r++ {
		s := 1 - math.Pow(1-pl.f.Prune, float64(r)/float64(pl.f.Rounds))
		if pl.f.Structure == "groups" {
			p, values, err := pl.trace()
			if err != nil {
				return err
			}
			masks, err := compact.GroupMasks(p, values, s)
			if err != nil {
				return err
			}
			if err := pruning.SetMasks(ctx, masks); err != nil {
				return err
			}
		} else {
			cfg := pruning.Config{Allocation: alloc}
			if pl.f.Structure == "out_channels" {
				cfg.Structure = pruning.OutputChannels{}
			}
			if _, err := pruning.PruneOnce(ctx, cfg, pruning.Sparsity(s)); err != nil {
				return err
			}
		}
		step := fmt.Sprintf("round %d: pruned to %.1f%%", r, 100*s)
		if ft != (training.Length{}) {
			pl.lr.base, pl.lr.steps = pl.f.FineTuneLR, ft.StepsFor(pl.sess.StepsPerEpoch())
			if err := pl.sess.ResetOptimizer(); err != nil {
				return err
			}
			if _, err := pl.sess.Train(ft); err != nil {
				return err
			}
			acc, err := pl.accuracy()
			if err != nil {
				return err
			}
			step += fmt.Sprintf(", fine-tuned %s: test accuracy %.2f%%", ft, 100*acc)
		}
		fmt.Fprintln(pl.out, step)
		pl.PruneSteps = append(pl.PruneSteps, step)
	}
	return nil
}

// trace returns the model's program and the current values of its variables.
func (pl *pipeline) trace() (*program.Program, map[string][]float32, error) {
	p, err := program.Trace(pl.sess.Backend(), pl.sess.Context(), pl.model.Build,
		shapes.Make(dtypes.Float32, pl.model.InputShape...))
	if err != nil {
		return nil, nil, err
	}
	values, err := p.Values(pl.sess.Context())
	if err != nil {
		return nil, nil, err
	}
	return p, values, nil
}

// runDir names the command's run directory by a hash of its settings.
// Paths and display options (-out, -progress) are not part of the hash.
func (pl *pipeline) runDir(cmd string, extra any) string {
	f := pl.f
	f.Out, f.Progress = "", false
	return filepath.Join(pl.f.Out, fmt.Sprintf("%s-%s-%s", cmd, pl.model.Name, hash([]any{f, extra})))
}

// programAccuracy runs a program with the given values on every image of im (batches of 500) and
// returns the fraction of correct argmax predictions.
func programAccuracy(pl *pipeline, p *program.Program, values map[string][]float32, im *datasets.Images) (float64, error) {
	ctx, err := p.NewContext(values)
	if err != nil {
		return 0, err
	}
	exec, err := p.NewExec(pl.sess.Backend(), ctx)
	if err != nil {
		return 0, err
	}
	defer exec.Finalize()
	b, err := datasets.NewBatches(im, datasets.BatchConfig{BatchSize: 500, Normalization: pl.sess.Config().Normalization})
	if err != nil {
		return 0, err
	}
	correct, n := 0, 0
	for {
		_, inputs, labels, err := b.Yield()
		if err != nil {
			break
		}
		out, err := exec.Exec(inputs[0])
		if err != nil {
			return 0, err
		}
		logits := tensors.MustCopyFlatData[float32](out[0])
		out[0].FinalizeAll()
		y := tensors.MustCopyFlatData[int32](labels[0])
		classes := len(logits) / len(y)
		for i, label := range y {
			row := logits[i*classes : (i+1)*classes]
			if slices.Index(row, slices.Max(row)) == int(label) {
				correct++
			}
			n++
		}
	}
	if n == 0 {
		return 0, fmt.Errorf("no test images")
	}
	return float64(correct) / float64(n), nil
}

// timeProgram returns the median time of one inference of p (with its input-independent ops
// folded, see program.Fold) on a batch of the given size, over runs runs after one warm-up run
// (which compiles).
func timeProgram(pl *pipeline, p *program.Program, values map[string][]float32, batch, runs int) (time.Duration, error) {
	p, values, err := program.Fold(pl.sess.Backend(), p, values)
	if err != nil {
		return 0, err
	}
	ctx, err := p.NewContext(values)
	if err != nil {
		return 0, err
	}
	exec, err := p.NewExec(pl.sess.Backend(), ctx)
	if err != nil {
		return 0, err
	}
	defer exec.Finalize()
	x := tensors.FromShape(shapes.Make(dtypes.Float32, append([]int{batch}, p.InputDims()...)...))
	times := make([]time.Duration, 0, runs)
	for i := range runs + 1 {
		start := time.Now()
		out, err := exec.Exec(x)
		if err != nil {
			return 0, err
		}
		out[0].FinalizeAll()
		if i > 0 {
			times = append(times, time.Since(start))
		}
	}
	slices.Sort(times)
	return times[len(times)/2], nil
}

// fineTuneLR is the pipeline's learning-rate schedule: Adam's 1.2e-3 until fine-tuning starts, then
// base·(1 + cos(π·step/steps))/2 within each fine-tuning round.
type fineTuneLR struct {
	base  float64
	steps int
}

func (f *fineTuneLR) at(step int) float64 {
	if f.steps == 0 {
		return 1.2e-3
	}
	return f.base * (1 + math.Cos(math.Pi*float64(min(step, f.steps))/float64(f.steps))) / 2
}
