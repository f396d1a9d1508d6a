package experiment

import (
	"cmp"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"slices"
	"time"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/prunelab/prunelab/backend"
	"github.com/prunelab/prunelab/compact"
	"github.com/prunelab/prunelab/export"
	"github.com/prunelab/prunelab/internal/atomicfile"
	"github.com/prunelab/prunelab/lm"
	"github.com/prunelab/prunelab/models"
	"github.com/prunelab/prunelab/program"
	"github.com/prunelab/prunelab/pruning"
	"github.com/prunelab/prunelab/textdata"
)

// LMPruneOptions are the settings of [LMPrune]. The zero value prunes half of gpt-tiny's
// attention heads (trained as [LMTrainOptions]' zero value) at once by Taylor importance, then
// fine-tunes it for 200 steps.
type LMPruneOptions struct {
	// Dense is the language model to prune: its training run is reused when finished, else trained
	// first. Its TestBytes is also the test text of the pruned model.
	Dense LMTrainOptions
	// Structure is [StructureHeads] (default: attention heads, through their gates) or
	// [StructureBlocks] (whole blocks, through their block gates).
	Structure string
	// Sparsity is the fraction of the heads (or blocks) pruned in the end, in (0, 1): round(Sparsity
	// · count) of them (default 0.5). Every block keeps a head, and a block stays.
	Sparsity float64
	// Criterion ranks the heads or blocks still in: "taylor" (default: |gate·∂L/∂gate| summed over
	// GradientBatches batches of training windows, Michel et al. 2019's head importance, global
	// across layers) or "random" (the control, seeded by Seed).
	Criterion string
	// GradientBatches is the number of training batches the Taylor scores sum over (default 8).
	GradientBatches int
	// Schedule is "oneshot" (default: everything pruned before fine-tuning) or "polynomial" (Zhu &
	// Gupta 2017: from 0 to Sparsity between steps Begin and End, every Frequency steps, with cubic
	// decay; defaults 0, Finetune/2 and Finetune/10; a step's mask update counts the steps done).
	Schedule              string
	Begin, End, Frequency int
	// Finetune is the number of fine-tuning steps (default 200; negative: none), of Batch windows
	// (default the dense run's), at the constant learning rate LR (default the dense run's LR/10).
	Finetune, Batch int
	LR              float64
	// Seed drives the fine-tuning windows and the random criterion.
	Seed int64
	// Force runs again even when the run directory holds a result.
	Force bool
}

// LMPruneConfig is what changes an LM prune run's numbers (hashed into its directory name,
// lm-prune-MODEL-HASH, and saved as config.json).
type LMPruneConfig struct {
	Dense                                                   LMTrainConfig
	Structure, Criterion, Schedule                          string
	Sparsity, LR                                            float64
	GradientBatches, Begin, End, Frequency, Finetune, Batch int
	Seed                                                    int64
	TestBytes                                               int
}

// LMPruneUpdate is one mask update of an LM prune run.
type LMPruneUpdate struct {
	// Step is the number of fine-tuning steps done before it; Pruned the heads (or blocks) out
	// after it, of Total.
	Step   int `json:"step"`
	Pruned int `json:"pruned"`
	Total  int `json:"total"`
}

// LMPruneReport is result.json of an LM prune run.
type LMPruneReport struct {
	Model     string `json:"model"`
	Backend   string `json:"backend"`
	DenseRun  string `json:"dense_run"`
	Structure string `json:"structure"`
	// Dense, AfterPruning (before fine-tuning; one-shot schedules only), Final (the masked model
	// after fine-tuning) and Compacted (the same model with the heads or blocks removed
	// physically, as model.plx stores it) are test scores on the same bytes; Unigram the baseline.
	Dense        LMScore  `json:"dense"`
	Unigram      LMScore  `json:"unigram"`
	AfterPruning *LMScore `json:"after_pruning,omitempty"`
	Final        LMScore  `json:"final"`
	Compacted    LMScore  `json:"compacted"`
	// TransformerPruning is what went (heads kept per block, or blocks removed) and the MACs per
	// window of the dense and the compacted model; DenseParams and CompactParams their parameters.
	TransformerPruning
	DenseParams   int             `json:"dense_params"`
	CompactParams int             `json:"compact_params"`
	Updates       []LMPruneUpdate `json:"updates"`
	// Curve is the fine-tuning's training loss (nats per byte) every tenth of the steps.
	Curve        []LMPoint `json:"curve"`
	TrainSeconds float64   `json:"train_seconds"`
	TotalSeconds float64   `json:"total_seconds"`
	GoVersion    string    `json:"go_version"`
	Finished     time.Time `json:"finished"`
}

// LMPruneResult is a finished LM prune run.
type LMPruneResult struct {
	Dir    string
	Config LMPruneConfig
	Report LMPruneReport
	// Reused says the run directory already held this run's result.
	Reused bool
	// Model is the compacted model (model.plx), when the run was not reused.
	Model *LanguageModel
}

// lmUnit is a head (Head ≥ 0) or a block (Head −1) of a GPT, and its gate.
type lmUnit struct {
	Block, Head int
}

func (u lmUnit) gate() string {
	if u.Head < 0 {
		return fmt.Sprintf("/block%d/%s", u.Block, models.BlockGate)
	}
	return fmt.Sprintf("/block%d/attn/%s", u.Block, models.HeadGates)
}

// resolve checks the options and fills in the defaults (an [ErrOptions] naming the flag when
// wrong).
func (o *LMPruneOptions) resolve(cfg models.GPTConfig, dense LMTrainConfig) error {
	if o.Structure == "" {
		o.Structure = StructureHeads
	}
	if o.Sparsity == 0 {
		o.Sparsity = 0.5
	}
	if o.Criterion == "" {
		o.Criterion = "taylor"
	}
	if o.GradientBatches == 0 {
		o.GradientBatches = 8
	}
	if o.Schedule == "" {
		o.Schedule = "oneshot"
	}
	if o.Finetune == 0 {
		o.Finetune = 200
	}
	if o.Finetune < 0 {
		o.Finetune = 0
	}
	if o.Batch == 0 {
		o.Batch = dense.Batch
	}
	if o.LR == 0 {
		o.LR = dense.LR / 10
	}
	if o.Schedule == "polynomial" {
		if o.End == 0 {
			o.End = o.Finetune / 2
		}
		if o.Frequency == 0 {
			o.Frequency = max(1, o.Finetune/10)
		}
	}
	units, most := cfg.Blocks*cfg.Heads, cfg.Blocks*(cfg.Heads-1)
	switch o.Structure {
	case StructureHeads:
	case StructureBlocks:
		units, most = cfg.Blocks, cfg.Blocks-1
	default:
		return badOptionsf("-structure %q: want %s or %s", o.Structure, StructureHeads, StructureBlocks)
	}
	n := pruneCount(o.Sparsity, units)
	switch {
	case !(o.Sparsity > 0 && o.Sparsity < 1):
		return badOptionsf("-sparsity %v: want a fraction of the %s in (0, 1)", o.Sparsity, o.Structure)
	case n > most && o.Structure == StructureHeads:
		return badOptionsf("-sparsity %v prunes %d of %d heads: every block keeps one, so at most %d", o.Sparsity, n,
			units, most)
	case n > most:
		return badOptionsf("-sparsity %v prunes %d of %d blocks: one must stay", o.Sparsity, n, units)
	case n == 0:
		return badOptionsf("-sparsity %v prunes none of the %d %s", o.Sparsity, units, o.Structure)
	case o.Criterion != "taylor" && o.Criterion != "random":
		return badOptionsf("-criterion %q: want taylor or random", o.Criterion)
	case o.GradientBatches < 0:
		return badOptionsf("-gradient-batches %d: want a positive number", o.GradientBatches)
	case o.Batch < 1:
		return badOptionsf("-finetune-batch %d: want at least 1 window", o.Batch)
	case !(o.LR > 0) || math.IsInf(o.LR, 0):
		return badOptionsf("-lr %g: want a positive learning rate", o.LR)
	case o.Schedule != "oneshot" && o.Schedule != "polynomial":
		return badOptionsf("-schedule %q: want oneshot or polynomial", o.Schedule)
	case o.Schedule == "polynomial" && o.Finetune == 0:
		return badOptionsf("-schedule polynomial prunes during fine-tuning: want -finetune steps")
	case o.Schedule == "polynomial" && !(0 <= o.Begin && o.Begin <= o.End && o.End <= o.Finetune && o.Frequency > 0):
		return badOptionsf("-begin %d, -end %d, -frequency %d: want 0 <= begin <= end <= -finetune %d and frequency > 0",
			o.Begin, o.End, o.Frequency, o.Finetune)
	}
	return nil
}

// pruneCount is the number of units of n that sparsity prunes, rounded half to even (as package
// pruning counts).
func pruneCount(sparsity float64, n int) int { return int(math.RoundToEven(sparsity * float64(n))) }

// schedule is the pruning schedule of resolved options: sparsity (a fraction of the units) by step.
func (o *LMPruneOptions) schedule() pruning.Schedule {
	if o.Schedule == "polynomial" {
		return pruning.Polynomial{Final: o.Sparsity, Begin: o.Begin, End: o.End, Frequency: o.Frequency}
	}
	return pruning.OneShot{Sparsity: o.Sparsity}
}

// LMPrune prunes attention heads or whole blocks of a trained language model through their gates
// (models.HeadGates, models.BlockGate: not trainable, so a pruned unit stays out while the rest
// fine-tunes) on a one-shot or polynomial schedule, ranked by Taylor importance (Michel et al.
// 2019) or at random, and fine-tunes it. It then removes the pruned heads or blocks physically
// (RemoveHeads into a configuration with BlockHeads; WithoutBlocks), checks that the smaller model
// scores what the masked one does, and writes an lm-prune-MODEL-HASH run directory: config.json,
// model.plx (the compacted model: [ReadLanguageModel] reads it) and result.json, last. The same
// options find the finished run.
func LMPrune(o LMPruneOptions) (*LMPruneResult, error) {
	start := time.Now()
	o.Dense = o.Dense.withDefaults()
	rc, cfg, err := o.Dense.resolve()
	if err != nil {
		return nil, err
	}
	if err := o.resolve(cfg, rc); err != nil {
		return nil, err
	}
	run := &LMPruneResult{Config: LMPruneConfig{Dense: rc, Structure: o.Structure, Criterion: o.Criterion,
		Schedule: o.Schedule, Sparsity: o.Sparsity, LR: o.LR, GradientBatches: o.GradientBatches, Begin: o.Begin,
		End: o.End, Frequency: o.Frequency, Finetune: o.Finetune, Batch: o.Batch, Seed: o.Seed,
		TestBytes: o.Dense.TestBytes}}
	run.Dir = filepath.Join(o.Dense.Out, fmt.Sprintf("lm-prune-%s-%s", rc.Model, Hash(run.Config)))
	if !o.Force && readJSON(filepath.Join(run.Dir, ResultFile), &run.Report) == nil {
		run.Reused = true
		return run, nil
	}
	log := logger(o.Dense.Log)
	dense, err := LMTrain(o.Dense)
	if err != nil {
		return nil, err
	}
	c := dense.Corpus
	if c == nil {
		if c, err = loadCorpus(o.Dense); err != nil {
			return nil, err
		}
	}
	b, err := backend.Default()
	if err != nil {
		return nil, err
	}
	r := &run.Report
	*r = LMPruneReport{Model: rc.Model, Backend: b.Name(), DenseRun: dense.Dir, Structure: o.Structure,
		Dense: dense.Report.Test, Unigram: dense.Report.Unigram}
	if dense.Reused {
		fmt.Fprintf(log, "Dense model: %s (reused)\n", dense.Dir)
	}
	fmt.Fprintf(log, "Dense %s: test %s\n", rc.Model, r.Dense)

	// The model's own code on a context holding the dense values: its gates are not trainable.
	model := lm.GPT(rc.Model, cfg)
	ctx, err := gptContext(b, cfg, dense.Model)
	if err != nil {
		return nil, err
	}
	test := c.Test[:min(o.Dense.TestBytes, len(c.Test))]
	evaluate := func() (LMScore, error) {
		ce, err := lm.Evaluate(ctx, model, test)
		return lmScore(ce), err
	}
	units := lmUnits(cfg, o.Structure)
	pruned := map[lmUnit]bool{}
	rng := rand.New(rand.NewPCG(uint64(o.Seed), 7))
	windows, err := textdata.NewWindows(c.Train, cfg.Context, uint64(o.Seed)+1) // for the Taylor scores
	if err != nil {
		return nil, err
	}
	sched := o.schedule()
	update := func(step int) error {
		if !sched.IsUpdateStep(step) {
			return nil
		}
		n := pruneCount(sched.SparsityAt(step), len(units))
		if n <= len(pruned) {
			return nil
		}
		scores, err := unitScores(ctx, model, units, o, windows, rng)
		if err != nil {
			return err
		}
		if err := pruneUnits(ctx, cfg, units, pruned, scores, n, o.Structure); err != nil {
			return err
		}
		r.Updates = append(r.Updates, LMPruneUpdate{Step: step, Pruned: len(pruned), Total: len(units)})
		fmt.Fprintf(log, "  step %4d: %d of %d %s pruned\n", step, len(pruned), len(units), o.Structure)
		return nil
	}
	if err := update(0); err != nil {
		return nil, err
	}
	if o.Schedule == "oneshot" {
		s, err := evaluate()
		if err != nil {
			return nil, err
		}
		r.AfterPruning = &s
		fmt.Fprintf(log, "After pruning, before fine-tuning: test %s\n", s)
	}
	if o.Finetune > 0 {
		every := max(1, o.Finetune/10)
		res, err := lm.Train(lm.Config{Model: model, Context: ctx, Train: c.Train, Steps: o.Finetune,
			BatchSize: o.Batch, LearningRate: o.LR, Seed: o.Seed, EvalEvery: every, Log: o.Dense.Log, AfterStep: update})
		if err != nil {
			return nil, err
		}
		r.TrainSeconds = res.TrainTime.Seconds()
		for _, p := range res.Curve {
			r.Curve = append(r.Curve, LMPoint{Step: p.Step, TrainLoss: p.TrainLoss})
		}
	}
	if r.Final, err = evaluate(); err != nil {
		return nil, err
	}
	small, err := run.compact(b, ctx, cfg, dense.Model.Name)
	if err != nil {
		return nil, err
	}
	ce, err := small.Evaluate(test)
	if err != nil {
		return nil, err
	}
	r.Compacted = lmScore(ce)
	// The compacted model computes the masked one's function: their scores agree to float32 noise.
	if d := math.Abs(r.Compacted.BitsPerByte - r.Final.BitsPerByte); d > 1e-4*(1+r.Final.BitsPerByte) {
		return nil, fmt.Errorf("experiment: %s with its pruned %s removed scores %s, the masked model %s", rc.Model,
			o.Structure, r.Compacted, r.Final)
	}
	run.Model = small
	r.TotalSeconds, r.GoVersion, r.Finished = time.Since(start).Seconds(), runtime.Version(), time.Now().UTC()
	if err := atomicfile.WriteJSON(filepath.Join(run.Dir, ConfigFile), run.Config); err != nil {
		return nil, err
	}
	meta := export.Meta{"model": rc.Model, "kind": lmKind, "corpus": dense.Report.Corpus,
		"pruned":             fmt.Sprintf("%s %g", o.Structure, o.Sparsity),
		"test_bits_per_byte": fmt.Sprintf("%.4f", r.Compacted.BitsPerByte)}
	_, err = WriteModel(filepath.Join(run.Dir, ModelFile), small.Program, small.Values, export.Options{Meta: meta})
	if err != nil {
		return nil, err
	}
	return run, atomicfile.WriteJSON(filepath.Join(run.Dir, ResultFile), r)
}

// gptContext creates cfg's variables (with their trainable flags: gates are not) in a new context
// and sets them to m's values.
func gptContext(b backends.Backend, cfg models.GPTConfig, m *LanguageModel) (*context.Context, error) {
	ctx := context.New()
	exec, err := context.NewExec(b, ctx, func(ctx *context.Context, x *graph.Node) *graph.Node { return cfg.Build(ctx, x) })
	if err != nil {
		return nil, err
	}
	out, err := exec.Exec(tensors.FromShape(shapes.Make(dtypes.Float32, 1, cfg.Context)))
	exec.Finalize()
	if err != nil {
		return nil, fmt.Errorf("experiment: creating %s's variables: %w", m.Name, err)
	}
	out[0].FinalizeAll()
	if err := m.Program.SetValues(ctx, m.Values); err != nil {
		return nil, fmt.Errorf("experiment: %s: %w", m.Name, err)
	}
	return ctx, nil
}

// lmUnits lists the heads (block by block) or the blocks of cfg.
func lmUnits(cfg models.GPTConfig, structure string) []lmUnit {
	var units []lmUnit
	for blk := range cfg.Blocks {
		if structure == StructureBlocks {
			units = append(units, lmUnit{blk, -1})
			continue
		}
		for h := range cfg.Heads {
			units = append(units, lmUnit{blk, h})
		}
	}
	return units
}

// unitScores scores the units (those already pruned too; pruneUnits passes over them): Taylor
// |∂L/∂gate| (the gate being 1) summed over o.GradientBatches batches of training windows, or
// uniform random numbers.
func unitScores(ctx *context.Context, m lm.Model, units []lmUnit, o LMPruneOptions,
	windows *textdata.Windows, rng *rand.Rand) (map[lmUnit]float64, error) {
	scores := map[lmUnit]float64{}
	if o.Criterion == "random" {
		for _, u := range units {
			scores[u] = rng.Float64()
		}
		return scores, nil
	}
	paths := gatePaths(units)
	for range o.GradientBatches {
		grads, err := lm.Gradients(ctx, m, windows.Next(o.Batch), paths)
		if err != nil {
			return nil, err
		}
		for _, u := range units {
			g := grads[slices.Index(paths, u.gate())]
			scores[u] += math.Abs(float64(g[max(0, u.Head)]))
		}
	}
	return scores, nil
}

// pruneUnits prunes the lowest-scoring units still in until n are out, never the last head of a
// block (nor the last block), by setting their gates to 0.
func pruneUnits(ctx *context.Context, cfg models.GPTConfig, units []lmUnit, pruned map[lmUnit]bool,
	scores map[lmUnit]float64, n int, structure string) error {
	order := slices.Clone(units)
	slices.SortStableFunc(order, func(a, b lmUnit) int { return cmp.Compare(scores[a], scores[b]) })
	// What must keep a unit: each block its heads, or the model its blocks (key −1).
	keyOf := func(u lmUnit) int {
		if structure == StructureHeads {
			return u.Block
		}
		return -1
	}
	left := map[int]int{}
	for _, u := range units {
		if !pruned[u] {
			left[keyOf(u)]++
		}
	}
	for _, u := range order {
		if len(pruned) >= n {
			break
		}
		if pruned[u] || left[keyOf(u)] <= 1 {
			continue
		}
		pruned[u] = true
		left[keyOf(u)]--
	}
	if len(pruned) < n {
		return fmt.Errorf("experiment: only %d %s can be pruned, %d asked", len(pruned), structure, n)
	}
	for _, path := range gatePaths(units) {
		scope, name := context.SplitScope(path)
		v := ctx.GetVariableByScopeAndName(scope, name)
		if v == nil {
			return fmt.Errorf("experiment: the model has no gate %s", path)
		}
		g, err := gateValues(v)
		if err != nil {
			return err
		}
		for _, u := range units {
			if u.gate() == path && pruned[u] {
				g[max(0, u.Head)] = 0
			}
		}
		if err := v.SetValue(tensors.FromFlatDataAndDimensions(g, v.Shape().Dimensions...)); err != nil {
			return err
		}
	}
	return nil
}

// gatePaths lists the gate variables of units, once each, in order.
func gatePaths(units []lmUnit) []string {
	var paths []string
	for _, u := range units {
		if !slices.Contains(paths, u.gate()) {
			paths = append(paths, u.gate())
		}
	}
	return paths
}

// compact removes the units whose gates ctx holds at 0 physically: the heads ([MaskedHeads])
// through [RemoveHeads] into a configuration with BlockHeads, the blocks ([MaskedBlocks]) through
// WithoutBlocks. It fills the report's heads or blocks, the parameters and MACs before and after,
// and returns the smaller model.
func (run *LMPruneResult) compact(b backends.Backend, ctx *context.Context, cfg models.GPTConfig,
	name string) (*LanguageModel, error) {
	r := &run.Report
	input := shapes.Make(dtypes.Float32, cfg.Context)
	p, err := program.Trace(b, ctx, cfg.Build, input)
	if err != nil {
		return nil, fmt.Errorf("tracing %s: %w", name, err)
	}
	values, err := p.Values(ctx)
	if err != nil {
		return nil, err
	}
	var small *program.Program
	var smallValues map[string][]float32
	if run.Config.Structure == StructureHeads {
		heads, err := MaskedHeads(ctx)
		if err != nil {
			return nil, err
		}
		if smallValues, r.HeadsKept, err = RemoveHeads(values, heads, cfg.Blocks, cfg.Heads, cfg.Width/cfg.Heads); err != nil {
			return nil, err
		}
		sc := cfg
		sc.BlockHeads = r.HeadsKept
		if small, err = program.Trace(b, context.New(), sc.Build, input); err != nil {
			return nil, fmt.Errorf("tracing %s without its pruned heads: %w", name, err)
		}
	} else {
		if r.BlocksRemoved, err = MaskedBlocks(ctx); err != nil {
			return nil, err
		}
		if small, err = program.Trace(b, ctx, cfg.WithoutBlocks(r.BlocksRemoved...), input); err != nil {
			return nil, fmt.Errorf("tracing %s without blocks %v: %w", name, r.BlocksRemoved, err)
		}
		if smallValues, err = small.Values(ctx); err != nil {
			return nil, err
		}
	}
	r.DenseParams, r.CompactParams = p.NumParams(), small.NumParams()
	r.DenseMACs, r.CompactMACs = compact.MACs(p), compact.MACs(small)
	if r.CompactMACs > 0 {
		r.Speedup = float64(r.DenseMACs) / float64(r.CompactMACs)
	}
	return &LanguageModel{Name: name, Program: small, Values: smallValues}, nil
}

// WriteSummary prints the test scores before and after, what was removed and where the files are.
func (run *LMPruneResult) WriteSummary(w io.Writer) {
	r := run.Report
	if run.Reused {
		fmt.Fprintf(w, "prunelab lm prune: %s already holds this run's result (-force runs it again).\n", run.Dir)
	}
	fmt.Fprintf(w, "\nResult of %s:\n", run.Dir)
	fmt.Fprintf(w, "  dense          test %s (unigram %s)\n", r.Dense, r.Unigram)
	if r.AfterPruning != nil {
		fmt.Fprintf(w, "  pruned         test %s before fine-tuning\n", *r.AfterPruning)
	}
	fmt.Fprintf(w, "  fine-tuned     test %s after %d steps (%.1f s); removed physically: %s\n", r.Final,
		run.Config.Finetune, r.TrainSeconds, r.Compacted)
	what := fmt.Sprintf("heads kept per block %v", r.HeadsKept)
	if r.Structure == StructureBlocks {
		what = fmt.Sprintf("blocks removed %v", r.BlocksRemoved)
	}
	fmt.Fprintf(w, "  removed        %s: %d -> %d parameters, %.2fx fewer MACs\n", what, r.DenseParams, r.CompactParams,
		r.Speedup)
	fmt.Fprintf(w, "Files: %s/ (config.json, result.json, model.plx: the compacted model)\n", run.Dir)
}
