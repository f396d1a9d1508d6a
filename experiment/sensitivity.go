package experiment

import (
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"text/tabwriter"
	"time"

	"github.com/prunelab/prunelab/internal/atomicfile"
	"github.com/prunelab/prunelab/pruning"
	"github.com/prunelab/prunelab/training"
)

// SensitivityOptions are the settings of [Sensitivity]. The zero value analyzes LeNet-300-100
// (trained 3 epochs) by magnitude along 0.1, 0.2, ..., 0.9, 0.95 and derives amounts for 80%
// overall; the dense run needs validation images (Dense.Validation > 0).
type SensitivityOptions struct {
	// Dense is the model to analyze.
	Dense DenseOptions
	// Prune says how each layer is pruned (its Allocation is not used: each layer goes alone).
	Prune PruneSettings
	// Ladder are the sparsities each layer is pruned to, increasing, in [0, 1) (default 0.1, ...,
	// 0.9, 0.95).
	Ladder []float64
	// Target is the overall sparsity of the analyzed layers to derive per-layer amounts for
	// (default 0.8); MaxDrop > 0 instead gives each layer the largest sparsity whose accuracy
	// drop stays within it.
	Target, MaxDrop float64
	// EvalLimit > 0 evaluates on the first that many validation images only.
	EvalLimit int
	// Finetune is the fine-tuning after pruning with the derived amounts (default "0it": none).
	Finetune string
	// Force runs again even when the run directory holds a result.
	Force bool
}

// DefaultLadder is the ladder of sparsities [Sensitivity] uses by default.
var DefaultLadder = []float64{0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95}

// SensitivityConfig is what changes a sensitivity run's numbers (hashed, saved as config.json).
type SensitivityConfig struct {
	Dense                      TrainConfig
	Criterion, Structure, Ties string
	Include, Skip              []string
	MinKeep, GradientBatches   int
	Ladder                     []float64
	Target, MaxDrop, LR        float64
	EvalLimit, TestLimit       int
	Finetune                   string
}

// SensitivityResult is result.json of a sensitivity run.
type SensitivityResult struct {
	Model    string             `json:"model"`
	DenseRun string             `json:"dense_run"`
	Baseline float64            `json:"baseline"` // validation accuracy of the dense model
	Amounts  map[string]float64 `json:"amounts"`
	// Drop is the accuracy drop (on the sensitivity table) the amounts allow; Overall the
	// overall sparsity of the analyzed layers they give.
	Drop              float64                     `json:"drop"`
	Overall           float64                     `json:"overall"`
	Dense             training.Metrics            `json:"dense"`  // test
	Pruned            training.Metrics            `json:"pruned"` // test, after applying the amounts
	Final             map[string]training.Metrics `json:"final"`  // after fine-tuning, if any
	MaskedSparsity    float64                     `json:"masked_sparsity"`
	Compression       float64                     `json:"compression"`
	Speedup           float64                     `json:"speedup"`
	StructuredSpeedup float64                     `json:"structured_speedup"`
	Evaluations       int                         `json:"evaluations"`
	AnalysisSeconds   float64                     `json:"analysis_seconds"`
	TotalSeconds      float64                     `json:"total_seconds"`
	Warnings          []string                    `json:"warnings,omitempty"`
	GoVersion         string                      `json:"go_version"`
	Finished          time.Time                   `json:"finished"`
}

// SensitivityRun is a finished sensitivity run.
type SensitivityRun struct {
	Dir    string
	Config SensitivityConfig
	Table  pruning.SensitivityTable
	Result SensitivityResult
	// Reused says the run was found finished in Dir; then Dense and Report are nil.
	Reused bool
	Dense  *Dense
	Report *pruning.Report
}

// Sensitivity measures how much each layer tolerates pruning (Han et al. 2015): each prunable layer
// alone is pruned to each sparsity of the ladder and the validation accuracy measured, then
// restored. From that table it derives per-layer sparsities (for Target overall, or within MaxDrop
// each), prunes the model with them once, optionally fine-tunes, and writes the run directory:
// sensitivity.json/.csv, amounts.json, result.json, report.txt/.json and masks.json.
func Sensitivity(o SensitivityOptions) (*SensitivityRun, error) {
	start := time.Now()
	o.Dense = o.Dense.withDefaults()
	if o.Ladder == nil {
		o.Ladder = DefaultLadder
	}
	if o.Target == 0 && o.MaxDrop == 0 {
		o.Target = 0.8
	}
	if o.Finetune == "" {
		o.Finetune = "0it"
	}
	log := logger(o.Dense.Log)
	for _, s := range o.Ladder {
		if pruning.Sparsity(s).Validate() != nil {
			return nil, badOptionsf("-ladder: %g is not a sparsity in [0, 1)", s)
		}
	}
	if o.MaxDrop < 0 || pruning.Sparsity(o.Target).Validate() != nil {
		return nil, badOptionsf("-target must be in [0, 1) and -max-drop >= 0, got %g and %g", o.Target, o.MaxDrop)
	}
	ftLength, err := training.ParseLength(o.Finetune)
	if err != nil {
		return nil, badOptionsf("-finetune: %w", err)
	}
	if s := o.Prune.Structure; s == StructureHeads || s == StructureBlocks {
		return nil, badOptionsf("-structure %s is pruned by \"prunelab prune\" (experiment.Prune), not analyzed layer by "+
			"layer", s)
	}
	r, err := resolveDense(o.Dense)
	if err != nil {
		return nil, err
	}
	rc, m := r.config, r.model
	targets, err := PrunableLayers(m, pruning.Selector{Include: o.Prune.Include})
	if err != nil {
		return nil, err
	}
	p := o.Prune
	p.Allocation, p.LayerAmounts = "layerwise", ""
	cfg, sel, err := p.Config(targets, rc.Seed)
	if err != nil {
		return nil, err
	}
	sc := SensitivityConfig{Dense: rc, Criterion: cfg.Criterion.Name(), Structure: cfg.Structure.Name(),
		Ties: cfg.Ties.String(), Include: p.Include, Skip: p.Skip, MinKeep: p.MinKeep,
		GradientBatches: cfg.GradientBatches, Ladder: o.Ladder, Target: o.Target, MaxDrop: o.MaxDrop, LR: o.Dense.LR,
		EvalLimit: o.EvalLimit, TestLimit: o.Dense.TestLimit, Finetune: ftLength.String()}
	if o.MaxDrop > 0 {
		sc.Target = 0
	}
	run := &SensitivityRun{Dir: filepath.Join(o.Dense.Out, fmt.Sprintf("sensitivity-%s-%s", m.Name, Hash(sc))), Config: sc}
	if !o.Force && readJSON(filepath.Join(run.Dir, ResultFile), &run.Result) == nil &&
		readJSON(filepath.Join(run.Dir, SensitivityJSON), &run.Table) == nil {
		run.Reused = true
		return run, nil
	}

	d, err := openDense(o.Dense, r)
	if err != nil {
		return nil, err
	}
	run.Dense = d
	sess := d.Session
	denseTest, err := d.InstallMasks(sel, &cfg)
	if err != nil {
		return nil, err
	}
	evalImages := d.Data.Validation
	if evalImages.N == 0 {
		return nil, badOptionsf("sensitivity needs validation images (-validation > 0)")
	}
	if o.EvalLimit > 0 {
		evalImages = evalImages.Subset(o.EvalLimit)
	}
	evals, accuracy := 0, AccuracyOn(sess, evalImages)
	eval := func() (float64, error) {
		evals++
		return accuracy()
	}
	fmt.Fprintf(log, "Sensitivity at %d sparsities (criterion %s, structure %s) on %d validation images\n",
		len(o.Ladder), cfg.Criterion.Name(), cfg.Structure.Name(), evalImages.N)
	t0 := time.Now()
	table, err := pruning.Sensitivity(sess.Context(), cfg, o.Ladder, eval)
	if err != nil {
		return nil, err
	}
	run.Table = *table
	res := &run.Result
	*res = SensitivityResult{Model: m.Name, DenseRun: d.Dir, Baseline: table.Baseline, Dense: denseTest,
		Evaluations: evals, AnalysisSeconds: time.Since(t0).Seconds()}
	if o.MaxDrop > 0 {
		res.Amounts, res.Overall = table.AmountsForDrop(o.MaxDrop)
		res.Drop = o.MaxDrop
	} else {
		res.Amounts, res.Drop, err = table.AmountsForSparsity(o.Target)
		if err != nil {
			return nil, err
		}
		_, res.Overall = table.AmountsForDrop(res.Drop)
	}
	apply := cfg
	apply.Allocation = pruning.PerLayer{Amounts: res.Amounts}
	if _, err := pruning.PruneOnce(sess.Context(), apply, pruning.Sparsity(0)); err != nil {
		return nil, err
	}
	if res.Pruned, err = sess.Evaluate(d.Data.Test); err != nil {
		return nil, err
	}
	history := training.History{}
	res.Final = map[string]training.Metrics{"test": res.Pruned}
	if steps := ftLength.StepsFor(sess.StepsPerEpoch()); steps > 0 {
		tr, err := sess.Train(ftLength, evalSets(d.Data)...)
		if err != nil {
			return nil, err
		}
		res.Final, history = tr.Final, tr.History
	}
	if run.Report, err = d.Report(); err != nil {
		return nil, err
	}
	rep := run.Report
	res.MaskedSparsity, res.Compression = rep.MaskedSparsity, rep.Compression
	res.Speedup, res.StructuredSpeedup, res.Warnings = rep.Speedup, rep.StructuredSpeedup, rep.Warnings
	res.TotalSeconds, res.GoVersion, res.Finished = time.Since(start).Seconds(), runtime.Version(), time.Now().UTC()
	if err := run.write(history); err != nil {
		return nil, err
	}
	return run, nil
}

func (run *SensitivityRun) write(h training.History) error {
	dir := run.Dir
	if err := atomicfile.WriteJSON(filepath.Join(dir, ConfigFile), run.Config); err != nil {
		return err
	}
	if err := atomicfile.WriteJSON(filepath.Join(dir, SensitivityJSON), run.Table); err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(dir, SensitivityCSV), run.Table.WriteCSV); err != nil {
		return err
	}
	if err := atomicfile.WriteJSON(filepath.Join(dir, AmountsFile), run.Result.Amounts); err != nil {
		return err
	}
	if len(h) > 0 {
		if err := writeHistory(dir, h); err != nil {
			return err
		}
	}
	if err := writeReport(dir, run.Report); err != nil {
		return err
	}
	masks, err := pruning.GetMasks(run.Dense.Session.Context())
	if err != nil {
		return err
	}
	if err := pruning.SaveMasks(filepath.Join(dir, MasksFile), masks); err != nil {
		return err
	}
	return atomicfile.WriteJSON(filepath.Join(dir, ResultFile), run.Result)
}

// WriteSummary prints the sensitivity table, the amounts derived and the result.
func (run *SensitivityRun) WriteSummary(w io.Writer) {
	if run.Reused {
		fmt.Fprintf(w, "prunelab sensitivity: %s already holds this run's result (-force runs it again).\n", run.Dir)
	} else if run.Report != nil {
		fmt.Fprintf(w, "\n%s", run.Report)
	}
	t, r := &run.Table, &run.Result
	fmt.Fprintf(w, "\nValidation accuracy with one layer pruned (baseline %.2f%%):\n", 100*t.Baseline)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	header := "layer\tparams\t"
	for _, s := range t.Sparsities {
		header += fmt.Sprintf("%g\t", s)
	}
	fmt.Fprintln(tw, header+"amount\t")
	for _, row := range t.Layers {
		line := fmt.Sprintf("%s\t%d\t", row.Path, row.Params)
		for _, m := range row.Metrics {
			line += fmt.Sprintf("%.2f\t", 100*m)
		}
		fmt.Fprintln(tw, line+fmt.Sprintf("%.3f\t", r.Amounts[row.Path]))
	}
	_ = tw.Flush()
	test := r.Final["test"]
	fmt.Fprintf(w, "\nResult of %s:\n", run.Dir)
	fmt.Fprintf(w, "  amounts        overall sparsity %.2f%% of the analyzed layers, within %.2f points of the baseline\n",
		100*r.Overall, 100*r.Drop)
	fmt.Fprintf(w, "  test accuracy  %.2f%% dense -> %.2f%% pruned", 100*r.Dense.Accuracy, 100*r.Pruned.Accuracy)
	if test != r.Pruned {
		fmt.Fprintf(w, " -> %.2f%% fine-tuned", 100*test.Accuracy)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "  sparsity       %.2f%% of the pruned layers' weights; compression %.2fx; theoretical speedup %.2fx "+
		"(structured %.2fx)\n", 100*r.MaskedSparsity, r.Compression, r.Speedup, r.StructuredSpeedup)
	fmt.Fprintf(w, "  time           %d evaluations in %.1f s, %.1f s in all\n", r.Evaluations, r.AnalysisSeconds,
		r.TotalSeconds)
	fmt.Fprintf(w, "Files: %s/ (config.json, result.json, sensitivity.json/.csv, amounts.json, report.txt/.json, masks.json)\n",
		run.Dir)
}
