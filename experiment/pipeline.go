package experiment

import (
	"fmt"
	"io"
	"math"
	"path/filepath"
	"runtime"
	"slices"
	"time"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/prunelab/prunelab/compact"
	"github.com/prunelab/prunelab/datasets"
	"github.com/prunelab/prunelab/models"
	"github.com/prunelab/prunelab/program"
	"github.com/prunelab/prunelab/pruning"
	"github.com/prunelab/prunelab/training"
)

// PipelineOptions are the first steps of the compression flows ([Compact], [Quantize], [Export]):
// where the dense model comes from and how it is pruned and fine-tuned before the flow's own step.
// The zero value trains LeNet-300-100 for 3 epochs (seed 0) and keeps it dense.
type PipelineOptions struct {
	// Model is a registry name (default "lenet-300-100"; ignored with From); Dataset defaults to
	// the model's own; DataDir holds the dataset files.
	Model, Dataset, DataDir string
	// From is a training run directory whose checkpoint is the dense model (default: train one
	// for Train, default "3ep").
	From, Train string
	// Masks is a mask file ([pruning.SaveMasks]) to apply instead of pruning.
	Masks string
	// Validation training images are held out (not trained on); TrainLimit and TestLimit keep
	// only that many training and test images.
	Validation, TrainLimit, TestLimit int
	Seed                              int64
	// Prune is the sparsity to prune to, in [0, 1): of the weights (unstructured) or of the
	// channels (out_channels, groups); 0 keeps the model dense.
	Prune float64
	// Structure is "unstructured" (default), "out_channels" (neurons and filters, per layer) or
	// "groups" (coupled channels, DepGraph-style: what compaction removes best); Allocation how
	// unstructured and out_channels sparsity spreads: "global" (default), "layerwise", "erk".
	Structure, Allocation string
	// Rounds prunes in that many rounds (geometric schedule, default 1), each followed by
	// FineTune ("0it" or empty: none) at an Adam learning rate decayed from FineTuneLR (default
	// 1.2e-3) to 0 with a cosine over the round.
	Rounds     int
	FineTune   string
	FineTuneLR float64
	// Out is the directory run directories go under (default "runs").
	Out string
	// Progress shows progress bars (in a terminal); Log receives progress lines (nil: none).
	Progress bool
	Log      io.Writer
}

func (o PipelineOptions) withDefaults() PipelineOptions {
	if o.Model == "" {
		o.Model = "lenet-300-100"
	}
	if o.Train == "" {
		o.Train = "3ep"
	}
	if o.Structure == "" {
		o.Structure = "unstructured"
	}
	if o.Allocation == "" {
		o.Allocation = "global"
	}
	if o.Rounds == 0 {
		o.Rounds = 1
	}
	if o.FineTune == "" {
		o.FineTune = "0it"
	}
	if o.FineTuneLR == 0 {
		o.FineTuneLR = 1.2e-3
	}
	if o.Out == "" {
		o.Out = "runs"
	}
	return o
}

// Pipeline is a dense-then-pruned model in a training session: the start of every compression flow.
type Pipeline struct {
	Options PipelineOptions
	Model   models.Model
	Data    *Splits
	Session *training.Session
	// Test accuracies of the dense and the pruned model; Sparsity of the pruned weights;
	// PruneSteps says what each round did.
	DenseAccuracy, PrunedAccuracy, Sparsity float64
	PruneSteps                              []string
	lr                                      *fineTuneLR
}

// NewPipeline loads the data and the dense model (training it unless From), evaluates it, and
// prunes it as o says.
func NewPipeline(o PipelineOptions) (*Pipeline, error) {
	o = o.withDefaults()
	log := logger(o.Log)
	if o.From != "" {
		var rc TrainConfig
		if err := readJSON(filepath.Join(o.From, ConfigFile), &rc); err != nil {
			return nil, fmt.Errorf("-from %s: %w", o.From, err)
		}
		o.Model, o.Dataset = rc.Model, rc.Dataset
	}
	m, err := imageModel(o.Model)
	if err != nil {
		return nil, err
	}
	if o.Dataset == "" {
		o.Dataset = m.Dataset
	}
	trainLen, err := training.ParseLength(o.Train)
	if err != nil {
		return nil, badOptions(err)
	}
	ftLen, err := training.ParseLength(o.FineTune)
	if err != nil {
		return nil, badOptions(err)
	}
	if !(o.Prune >= 0 && o.Prune < 1) || o.Rounds < 1 {
		return nil, badOptionsf("-prune %g must be in [0, 1) and -rounds %d at least 1", o.Prune, o.Rounds)
	}
	if _, err := pruning.ParseAllocation(o.Allocation); err != nil {
		return nil, badOptions(err)
	}
	switch o.Structure {
	case "unstructured", "out_channels", "groups":
	default:
		return nil, badOptionsf("unknown -structure %q (unstructured, out_channels, groups)", o.Structure)
	}
	split, err := LoadData(DataOptions{Dataset: o.Dataset, Dir: o.DataDir, Validation: o.Validation,
		TrainLimit: o.TrainLimit, TestLimit: o.TestLimit, Seed: o.Seed})
	if err != nil {
		return nil, err
	}
	// The learning rate: Adam's default while the dense model trains, then a cosine decay from
	// FineTuneLR to 0 over each fine-tuning round (the session counts steps from each
	// ResetOptimizer).
	ft := &fineTuneLR{}
	sess, err := training.NewSession(training.Config{Model: m, Seed: o.Seed, Progress: o.Progress,
		LRSchedule: training.LRFunc(ft.at)})
	if err != nil {
		return nil, err
	}
	if err := sess.SetTrainData(split.Train); err != nil {
		return nil, err
	}
	pl := &Pipeline{Options: o, Model: m, Data: split, Session: sess, lr: ft}
	fmt.Fprintf(log, "%s on %s (train %d, test %d images; %s), backend %q, %d CPUs\n", m.Name, o.Dataset,
		split.Train.N, split.Test.N, split.Source, sess.Backend().Name(), runtime.NumCPU())
	start := time.Now()
	if o.From != "" {
		if err := sess.Load(filepath.Join(o.From, CheckpointDir)); err != nil {
			return nil, err
		}
	} else if _, err := sess.Train(trainLen); err != nil {
		return nil, err
	}
	if pl.DenseAccuracy, err = pl.accuracy(); err != nil {
		return nil, err
	}
	fmt.Fprintf(log, "dense model: test accuracy %.2f%% (%.1f s)\n", 100*pl.DenseAccuracy, time.Since(start).Seconds())

	sess.SetModel(MaskedBuild(m))
	if _, err := pl.accuracy(); err != nil { // builds the masks
		return nil, err
	}
	if err := pl.prune(ftLen); err != nil {
		return nil, err
	}
	if pl.PrunedAccuracy, err = pl.accuracy(); err != nil {
		return nil, err
	}
	masks, err := pruning.GetMasks(sess.Context())
	if err != nil {
		return nil, err
	}
	pl.Sparsity = masks.Sparsity()
	fmt.Fprintf(log, "pruned model: %.2f%% of the weights pruned, test accuracy %.2f%%\n", 100*pl.Sparsity,
		100*pl.PrunedAccuracy)
	return pl, nil
}

func (pl *Pipeline) accuracy() (float64, error) {
	m, err := pl.Session.Evaluate(pl.Data.Test)
	return m.Accuracy, err
}

// prune applies Masks, or prunes in Rounds rounds to Prune, fine-tuning after each round.
func (pl *Pipeline) prune(ft training.Length) error {
	o, ctx := pl.Options, pl.Session.Context()
	if o.Masks != "" {
		masks, err := pruning.LoadMasks(o.Masks)
		if err != nil {
			return err
		}
		return pruning.SetMasks(ctx, masks)
	}
	if o.Prune == 0 {
		return nil
	}
	alloc, _ := pruning.ParseAllocation(o.Allocation)
	for r := 1; r <= o.Rounds; r++ {
		s := 1 - math.Pow(1-o.Prune, float64(r)/float64(o.Rounds))
		if o.Structure == "groups" {
			p, values, err := pl.Trace()
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
			if o.Structure == "out_channels" {
				cfg.Structure = pruning.OutputChannels{}
			}
			if _, err := pruning.PruneOnce(ctx, cfg, pruning.Sparsity(s)); err != nil {
				return err
			}
		}
		step := fmt.Sprintf("round %d: pruned to %.1f%%", r, 100*s)
		if ft != (training.Length{}) {
			pl.lr.base, pl.lr.steps = o.FineTuneLR, ft.StepsFor(pl.Session.StepsPerEpoch())
			if err := pl.Session.ResetOptimizer(); err != nil {
				return err
			}
			if _, err := pl.Session.Train(ft); err != nil {
				return err
			}
			acc, err := pl.accuracy()
			if err != nil {
				return err
			}
			step += fmt.Sprintf(", fine-tuned %s: test accuracy %.2f%%", ft, 100*acc)
		}
		fmt.Fprintln(logger(o.Log), step)
		pl.PruneSteps = append(pl.PruneSteps, step)
	}
	return nil
}

// Trace returns the pipeline's model as a program with the current values of its variables
// (pruned weights as zeros).
func (pl *Pipeline) Trace() (*program.Program, map[string][]float32, error) {
	return TraceSession(pl.Session, pl.Model)
}

// TraceSession returns a session's model m as a program (its traced inference graph, see
// [program.Trace]) with the current values of its variables, pruned weights included as zeros.
func TraceSession(s *training.Session, m models.Model) (*program.Program, map[string][]float32, error) {
	p, err := program.Trace(s.Backend(), s.Context(), m.Build, shapes.Make(dtypes.Float32, m.InputShape...))
	if err != nil {
		return nil, nil, err
	}
	values, err := p.Values(s.Context())
	if err != nil {
		return nil, nil, err
	}
	return p, values, nil
}

// runDir names a flow's run directory by a hash of the pipeline's options and the flow's own
// settings (extra). Paths and display options (Out, Progress, Log) are not part of the hash.
func (pl *Pipeline) runDir(flow string, extra any) string {
	o := pl.Options
	// The fields, names and order of the CLI's flags before the options moved here, so that a
	// run keeps its directory name.
	key := struct {
		Model, Dataset, Data, From, Train, Masks string
		Validation, TrainLimit, TestLimit        int
		Seed                                     int64
		Prune, FineTuneLR                        float64
		Structure, Allocation, FineTune          string
		Rounds                                   int
		Out                                      string
		Progress                                 bool
	}{o.Model, o.Dataset, o.DataDir, o.From, o.Train, o.Masks, o.Validation, o.TrainLimit, o.TestLimit, o.Seed,
		o.Prune, o.FineTuneLR, o.Structure, o.Allocation, o.FineTune, o.Rounds, "", false}
	return filepath.Join(o.Out, fmt.Sprintf("%s-%s-%s", flow, pl.Model.Name, Hash([]any{key, extra})))
}

// ProgramAccuracy runs a program with the given values (a traced, compacted, dequantized or
// reloaded model) on every image of im, in batches of 500 normalized by norm, and returns the
// fraction of correct argmax predictions.
func ProgramAccuracy(b backends.Backend, p *program.Program, values map[string][]float32, im *datasets.Images,
	norm datasets.Normalization) (float64, error) {
	exec, err := programExec(b, p, values)
	if err != nil {
		return 0, err
	}
	defer exec.Finalize()
	batches, err := datasets.NewBatches(im, datasets.BatchConfig{BatchSize: 500, Normalization: norm})
	if err != nil {
		return 0, err
	}
	correct, n := 0, 0
	for {
		_, inputs, labels, err := batches.Yield()
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

// programAccuracy is [ProgramAccuracy] on the pipeline's test images.
func (pl *Pipeline) programAccuracy(p *program.Program, values map[string][]float32) (float64, error) {
	return ProgramAccuracy(pl.Session.Backend(), p, values, pl.Data.Test, pl.Session.Config().Normalization)
}

// TimeProgram returns the median time of one inference of p (with its input-independent ops
// folded, see [program.Fold]) on a batch of zeros of the given size, over runs runs after one
// warm-up run (which compiles).
func TimeProgram(b backends.Backend, p *program.Program, values map[string][]float32, batch, runs int) (time.Duration, error) {
	p, values, err := program.Fold(b, p, values)
	if err != nil {
		return 0, err
	}
	exec, err := programExec(b, p, values)
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

// programExec compiles p with its variables set to values; the caller finalizes it.
func programExec(b backends.Backend, p *program.Program, values map[string][]float32) (*context.Exec, error) {
	ctx, err := p.NewContext(values)
	if err != nil {
		return nil, err
	}
	return p.NewExec(b, ctx)
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
