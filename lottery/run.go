package lottery

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"sort"
	"time"

	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/prunelab/prunelab/datasets"
	"github.com/prunelab/prunelab/internal/atomicfile"
	"github.com/prunelab/prunelab/models"
	"github.com/prunelab/prunelab/pruning"
	"github.com/prunelab/prunelab/training"
)

// ErrConfigMismatch is wrapped when a run directory was made with other parameters than the ones given.
var ErrConfigMismatch = errors.New("run directory was made with other parameters")

// reinitSeedOffset separates the random re-initialization control's seeds from the ticket's.
const reinitSeedOffset = 1_000_003

// Experiment runs the replicates and branches of a Config in its run directory, resuming whatever is
// already complete there.
type Experiment struct {
	Config Config
	// Replicates to run (replicate_1 … replicate_N); default 1.
	Replicates int
	// Only, when positive, runs just that replicate (sweeps fan replicates out this way).
	Only int
	// Controls to run beside the ticket at every level ≥ 1 (see [Controls]).
	Controls []string
	// Out is the directory under which the run directory lottery-<hash> is made; Dir, when set, is
	// the run directory itself (it must hold the same Config or be new).
	Out, Dir string
	// DataDir is passed to datasets.Load (empty: the usual search).
	DataDir string
	// Log receives one line per level as it finishes; nil is silent.
	Log io.Writer
	// Progress shows the training progress bar in a terminal.
	Progress bool
}

// RunDir is where the experiment writes.
func (e *Experiment) RunDir() string {
	if e.Dir != "" {
		return e.Dir
	}
	return RunDir(e.Out, e.Config)
}

// configFile is config.json: the Config and what produced the run.
type configFile struct {
	Config   Config            `json:"config"`
	Hash     string            `json:"hash"`
	Versions map[string]string `json:"versions"`
}

// Run runs (or resumes) the experiment and returns the summary over every finished level. Results
// are written as each level finishes, so a run killed at any moment resumes where it stopped.
func (e *Experiment) Run() (*Summary, error) {
	cfg := e.Config
	if cfg.Dataset == "" {
		m, err := models.ByName(cfg.Model)
		if err != nil {
			return nil, fmt.Errorf("lottery: %w", err)
		}
		cfg.Dataset = m.Dataset
		e.Config = cfg
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if e.Replicates <= 0 {
		e.Replicates = 1
	}
	if e.Only > e.Replicates {
		return nil, fmt.Errorf("lottery: replicate %d out of range 1..%d", e.Only, e.Replicates)
	}
	for _, c := range e.Controls {
		if !slices.Contains(Controls, c) {
			return nil, fmt.Errorf("lottery: unknown control %q (known: %v)", c, Controls)
		}
	}
	model, err := models.ByName(cfg.Model)
	if err != nil {
		return nil, fmt.Errorf("lottery: %w", err)
	}
	dir := e.RunDir()
	if err := e.claimDir(dir); err != nil {
		return nil, err
	}
	data, err := loadData(cfg, e.DataDir)
	if err != nil {
		return nil, err
	}
	r := &runner{e: e, cfg: cfg, model: model, data: data, dir: dir}
	for rep := 1; rep <= e.Replicates; rep++ {
		if e.Only > 0 && rep != e.Only {
			continue
		}
		for level := 0; level <= cfg.Levels; level++ {
			for _, branch := range append([]string{Main}, e.Controls...) {
				if level == 0 && branch != Main {
					continue
				}
				res, resumed, err := r.level(rep, level, branch)
				if err != nil {
					return nil, err
				}
				if e.Log != nil {
					fmt.Fprintln(e.Log, res.row(resumed))
				}
			}
		}
	}
	sum, err := Summarize(dir)
	if err != nil {
		return nil, err
	}
	if err := sum.Write(dir); err != nil {
		return nil, err
	}
	return sum, nil
}

// claimDir makes dir this experiment's: it writes config.json in a new directory, or checks that an
// existing one holds the same Config (nothing is overwritten otherwise).
func (e *Experiment) claimDir(dir string) error {
	path := filepath.Join(dir, ConfigFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return atomicfile.WriteJSON(path, configFile{Config: e.Config, Hash: e.Config.Hash(), Versions: versions()})
	}
	if err != nil {
		return fmt.Errorf("lottery: %w", err)
	}
	var have configFile
	if err := json.Unmarshal(b, &have); err != nil {
		return fmt.Errorf("lottery: %s: %w: %v", path, ErrCorrupt, err)
	}
	if have.Config != e.Config {
		return fmt.Errorf("lottery: %s: %w: %s", dir, ErrConfigMismatch, diffConfigs(have.Config, e.Config))
	}
	return nil
}

// diffConfigs names the fields that differ, as "field: dir has X, asked Y".
func diffConfigs(have, want Config) string {
	var a, b map[string]any
	ja, _ := json.Marshal(have)
	jb, _ := json.Marshal(want)
	_ = json.Unmarshal(ja, &a)
	_ = json.Unmarshal(jb, &b)
	var diffs []string
	for k := range a {
		if fmt.Sprint(a[k]) != fmt.Sprint(b[k]) {
			diffs = append(diffs, fmt.Sprintf("%s: directory has %v, asked %v", k, a[k], b[k]))
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s: directory has none, asked %v", k, b[k]))
		}
	}
	sort.Strings(diffs)
	return fmt.Sprint(diffs)
}

func versions() map[string]string {
	v := map[string]string{"go": runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		v["prunelab"] = bi.Main.Version
		for _, d := range bi.Deps {
			if d.Path == "github.com/gomlx/gomlx" {
				v["gomlx"] = d.Version
			}
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				v["vcs.revision"] = s.Value
			}
		}
	}
	return v
}

// experimentData are the three image sets of an experiment.
type experimentData struct {
	train, val, test *datasets.Images
}

func loadData(cfg Config, dir string) (*experimentData, error) {
	d, err := datasets.Load(cfg.Dataset, datasets.Options{Dir: dir})
	if err != nil {
		return nil, err
	}
	// The validation split is the same for every replicate (seeded by the experiment's seed).
	train, val, err := d.Train.Split(cfg.Validation, cfg.Seed)
	if err != nil {
		return nil, fmt.Errorf("lottery: %w", err)
	}
	if cfg.TrainLimit > 0 {
		train = train.Subset(cfg.TrainLimit)
	}
	test := d.Test
	if cfg.TestLimit > 0 {
		test = test.Subset(cfg.TestLimit)
	}
	return &experimentData{train: train, val: val, test: test}, nil
}

// runner holds what every level of a run shares.
type runner struct {
	e     *Experiment
	cfg   Config
	model models.Model
	data  *experimentData
	dir   string
}

// level runs (or reads back) one branch of one level of replicate rep.
func (r *runner) level(rep, level int, branch string) (res *LevelResult, resumed bool, err error) {
	dir := LevelDir(r.dir, rep, level, branch)
	if res, err := readLevel(dir); err == nil {
		return res, true, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, false, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, false, fmt.Errorf("lottery: %w", err)
	}
	start := time.Now()
	seed := r.cfg.Seed + int64(rep) - 1
	sessSeed := seed
	if branch == Reinit {
		sessSeed += reinitSeedOffset
	}
	sess, err := training.NewSession(training.Config{
		Model: r.model, Optimizer: r.cfg.Optimizer, LearningRate: r.cfg.LR, BatchSize: r.cfg.Batch,
		EvalEvery: r.cfg.EvalEvery, EvalAtStart: true, Seed: sessSeed, Progress: r.e.Progress,
	})
	if err != nil {
		return nil, false, fmt.Errorf("lottery: %w", err)
	}
	sess.SetModel(models.BuildFn(pruning.WrapModelFn(pruning.ModelFn(r.model.Build), pruning.Selector{})))
	if err := sess.InitVariables(); err != nil {
		return nil, false, err
	}
	if err := sess.SetTrainData(r.data.train); err != nil {
		return nil, false, err
	}
	ctx := sess.Context()
	vars := modelVariables(ctx)
	rp, _ := r.cfg.rewind()
	total := r.cfg.Iterations.StepsFor(sess.StepsPerEpoch())
	k := rp.at.StepsFor(sess.StepsPerEpoch())
	if k >= total {
		return nil, false, fmt.Errorf("lottery: rewind point %s (%d iterations) is not before the end of training (%d)", r.cfg.Rewind, k, total)
	}
	rewindPath := filepath.Join(ReplicateDir(r.dir, rep), RewindFile)
	steps := total - k
	if level == 0 || rp.lr {
		steps, k = total, 0
	}
	if level == 0 {
		if rp.lr || rp.at == (training.Length{}) {
			// θ0: the weights just initialized (learning-rate rewinding keeps none but costs nothing to save).
			if err := saveWeights(rewindPath, ctx, vars); err != nil {
				return nil, false, err
			}
		} else {
			rewindAt := rp.at.StepsFor(sess.StepsPerEpoch())
			sess.OnStep(func(step int) error {
				if step == rewindAt {
					return saveWeights(rewindPath, ctx, vars)
				}
				return nil
			})
		}
	} else if err := r.prepareLevel(ctx, rep, level, branch, rewindPath, seed); err != nil {
		return nil, false, err
	}
	if err := sess.SkipSteps(k); err != nil {
		return nil, false, err
	}
	trainRes, err := sess.Train(training.Length{Steps: steps},
		training.EvalSet{Name: "validation", Images: r.data.val}, training.EvalSet{Name: "test", Images: r.data.test})
	if err != nil {
		return nil, false, fmt.Errorf("lottery: replicate %d level %d %s: %w", rep, level, branch, err)
	}
	if err := saveWeights(filepath.Join(dir, FinalFile), ctx, vars); err != nil {
		return nil, false, err
	}
	res, err = r.result(ctx, rep, level, branch, k, trainRes)
	if err != nil {
		return nil, false, err
	}
	if err := atomicfile.WriteJSON(filepath.Join(dir, MetricsFile), res); err != nil {
		return nil, false, err
	}
	timing := map[string]float64{"seconds": time.Since(start).Seconds(), "train_seconds": trainRes.TrainDuration.Seconds()}
	if err := atomicfile.WriteJSON(filepath.Join(dir, TimingFile), timing); err != nil {
		return nil, false, err
	}
	return res, false, nil
}

// prepareLevel sets the masks and weights a level ≥ 1 starts from.
func (r *runner) prepareLevel(ctx *context.Context, rep, level int, branch, rewindPath string, seed int64) error {
	rp, _ := r.cfg.rewind()
	mainDir := LevelDir(r.dir, rep, level, Main)
	switch branch {
	case Main:
		prev := LevelDir(r.dir, rep, level-1, Main)
		if level > 1 {
			if err := setMasksFrom(ctx, filepath.Join(prev, MaskFile)); err != nil {
				return err
			}
		}
		if err := loadWeights(filepath.Join(prev, FinalFile), ctx); err != nil {
			return err
		}
		if err := pruning.ApplyMasks(ctx); err != nil {
			return err
		}
		masks, err := r.pruneLevel(ctx, level)
		if err != nil {
			return err
		}
		if err := pruning.SaveMasks(filepath.Join(mainDir, MaskFile), masks); err != nil {
			return err
		}
		if !rp.lr {
			if err := loadWeights(rewindPath, ctx); err != nil {
				return err
			}
		}
	case Reinit:
		// Fresh weights (the session's own seed) under the ticket's mask.
		if err := setMasksFrom(ctx, filepath.Join(mainDir, MaskFile)); err != nil {
			return err
		}
	case RandomMask:
		ticket, err := pruning.LoadMasks(filepath.Join(mainDir, MaskFile))
		if err != nil {
			return fmt.Errorf("lottery: %w", err)
		}
		amounts := map[string]float64{}
		for path, m := range ticket {
			amounts[path] = float64(m.NumPruned()) / float64(m.Size())
		}
		pcfg := pruning.Config{Criterion: pruning.RandomCriterion{}, Allocation: pruning.PerLayer{Amounts: amounts},
			Seed: uint64(seed)*1000 + uint64(level)}
		if _, err := pruning.PruneOnce(ctx, pcfg, pruning.Sparsity(0)); err != nil {
			return fmt.Errorf("lottery: random mask: %w", err)
		}
		masks, err := pruning.GetMasks(ctx)
		if err != nil {
			return err
		}
		if err := pruning.SaveMasks(filepath.Join(LevelDir(r.dir, rep, level, branch), MaskFile), masks); err != nil {
			return err
		}
		src := rewindPath
		if rp.lr {
			src = filepath.Join(LevelDir(r.dir, rep, level-1, Main), FinalFile)
		}
		if err := loadWeights(src, ctx); err != nil {
			return err
		}
	}
	return pruning.ApplyMasks(ctx)
}

// setMasksFrom loads a mask file into ctx's masks.
func setMasksFrom(ctx *context.Context, path string) error {
	masks, err := pruning.LoadMasks(path)
	if err != nil {
		return fmt.Errorf("lottery: %w", err)
	}
	return pruning.SetMasks(ctx, masks)
}

// pruneLevel prunes ctx (holding level−1's trained weights and masks) to level's sparsities by
// magnitude: 1−(1−p)^level of each layer (or of the hidden layers together, for global scope), the
// output layer at its own rate.
func (r *runner) pruneLevel(ctx *context.Context, level int) (pruning.MaskSet, error) {
	out, hidden := r.layers(ctx)
	hiddenSparsity := 1 - math.Pow(1-r.cfg.PruneRate, float64(level))
	outSparsity := 1 - math.Pow(1-r.cfg.OutputPruneRate, float64(level))
	var alloc pruning.Allocation = pruning.LayerWise{}
	if r.cfg.Scope == "global" {
		alloc = pruning.Global{}
	}
	if len(hidden) > 0 {
		cfg := pruning.Config{Allocation: alloc}
		if out != "" {
			cfg.Skip = []string{out}
		}
		if _, err := pruning.PruneOnce(ctx, cfg, pruning.Sparsity(hiddenSparsity)); err != nil {
			return nil, fmt.Errorf("lottery: level %d: %w", level, err)
		}
	}
	if out != "" {
		if _, err := pruning.PruneOnce(ctx, pruning.Config{Skip: hidden}, pruning.Sparsity(outSparsity)); err != nil {
			return nil, fmt.Errorf("lottery: level %d output layer: %w", level, err)
		}
	}
	return pruning.GetMasks(ctx)
}

// layers splits the masked variables into the output layer (the last dense layer with one output
// per class; "" if none) and the others.
func (r *runner) layers(ctx *context.Context) (out string, hidden []string) {
	targets := pruning.Targets(ctx)
	for _, t := range targets {
		if t.Kind == pruning.KindDense && t.NumOutputs() == r.model.NumClasses {
			out = t.Path()
		}
	}
	for _, t := range targets {
		if t.Path() != out {
			hidden = append(hidden, t.Path())
		}
	}
	return out, hidden
}
