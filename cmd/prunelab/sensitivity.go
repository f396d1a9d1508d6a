package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/prunelab/prunelab/internal/atomicfile"
	"github.com/prunelab/prunelab/pruning"
	"github.com/prunelab/prunelab/training"
)

func init() { commands["sensitivity"] = sensitivityCommand }

var sensitivityCommand = command{
	summary: "prune each layer alone along a ladder of sparsities, derive per-layer amounts",
	usage:   sensitivityUsage,
	run:     runSensitivity,
}

const sensitivityUsage = `prunelab sensitivity: how much each layer tolerates pruning (Han et al. 2015).

For each prunable layer of a dense model, prune it alone to each sparsity of -ladder and measure the
accuracy on the validation images; restore it; go on. From that table derive per-layer sparsities,
either the largest each layer tolerates within -max-drop of the baseline accuracy, or those reaching
-target overall sparsity with the smallest common drop; then prune the model with them once and
report (add -finetune to fine-tune afterwards). The dense model is found as for "prunelab prune".

The run directory holds sensitivity.json/.csv (the table), amounts.json (the derived sparsities),
result.json, report.txt/.json and masks.json.

Examples:
  prunelab sensitivity                                  # LeNet-300-100, magnitude, to 80% overall
  prunelab sensitivity -max-drop 0.005                  # each layer as far as it goes within 0.5 points
  prunelab sensitivity -structure out_channels -ladder 0.25,0.5,0.75 -target 0.5
  prunelab sensitivity -from runs/train-lenet-300-100-<hash> -finetune 1ep
`

// sensitivityConfig is what changes a sensitivity run's numbers.
type sensitivityConfig struct {
	Dense                      runConfig
	Criterion, Structure, Ties string
	Include, Skip              []string
	MinKeep, GradientBatches   int
	Ladder                     []float64
	Target, MaxDrop, LR        float64
	EvalLimit, TestLimit       int
	Finetune                   string
}

// sensitivityResult is result.json of a sensitivity run.
type sensitivityResult struct {
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

func runSensitivity(args []string, stdout, stderr io.Writer) error {
	var (
		df               denseFlags
		pf               pruneFlags
		ladder, finetune string
		target, maxDrop  float64
		evalLimit        int
		force            bool
	)
	fs := newFlagSet("sensitivity", sensitivityUsage, stderr)
	df.register(fs)
	pf.register(fs, false)
	fs.StringVar(&ladder, "ladder", "0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,0.95", "sparsities each layer is pruned to, increasing, in [0, 1)")
	fs.Float64Var(&target, "target", 0.8, "overall sparsity of the analyzed layers to derive per-layer amounts for")
	fs.Float64Var(&maxDrop, "max-drop", 0, "instead of -target: largest accuracy drop (e.g. 0.005) each layer may cause")
	fs.IntVar(&evalLimit, "eval-limit", 0, "evaluate on the first N validation images only (0: all)")
	fs.StringVar(&finetune, "finetune", "0it", "fine-tuning after pruning with the derived amounts")
	fs.BoolVar(&force, "force", false, "run again even if the run directory holds a result")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	start := time.Now()
	explicit := explicitFlags(fs)
	sparsities, err := parseLadder(ladder)
	if err != nil {
		return err
	}
	if maxDrop < 0 || pruning.Sparsity(target).Validate() != nil {
		return usageError{fmt.Errorf("-target must be in [0, 1) and -max-drop >= 0, got %g and %g", target, maxDrop)}
	}
	ftLength, err := training.ParseLength(finetune)
	if err != nil {
		return usageError{fmt.Errorf("-finetune: %w", err)}
	}
	rc, m, denseDir, err := df.denseConfig(explicit)
	if err != nil {
		return err
	}
	targets, err := prunableLayers(m, pruning.Selector{Include: pf.Include})
	if err != nil {
		return err
	}
	cfg, sel, err := pf.config(targets, rc.Seed)
	if err != nil {
		return err
	}
	sc := sensitivityConfig{Dense: rc, Criterion: cfg.Criterion.Name(), Structure: cfg.Structure.Name(),
		Ties: cfg.Ties.String(), Include: pf.Include, Skip: pf.Skip, MinKeep: pf.MinKeep,
		GradientBatches: pf.GradientBatches, Ladder: sparsities, Target: target, MaxDrop: maxDrop, LR: df.LR,
		EvalLimit: evalLimit, TestLimit: df.TestLimit, Finetune: ftLength.String()}
	if maxDrop > 0 {
		sc.Target = 0
	}
	dir := filepath.Join(df.Out, fmt.Sprintf("sensitivity-%s-%s", m.Name, hash(sc)))
	if !force {
		if b, err := os.ReadFile(filepath.Join(dir, resultFile)); err == nil {
			var res sensitivityResult
			var table pruning.SensitivityTable
			tb, terr := os.ReadFile(filepath.Join(dir, sensitivityJSON))
			if json.Unmarshal(b, &res) == nil && terr == nil && json.Unmarshal(tb, &table) == nil {
				fmt.Fprintf(stdout, "prunelab sensitivity: %s already holds this run's result (-force runs it again).\n", dir)
				printSensitivitySummary(stdout, dir, &table, &res)
				return nil
			}
		}
	}

	d, err := df.loadDense(rc, m, denseDir, stdout)
	if err != nil {
		return err
	}
	denseTest, err := d.installMasks(sel, &cfg)
	if err != nil {
		return err
	}
	evalImages := d.split.val
	if evalImages.N == 0 {
		return usageError{fmt.Errorf("sensitivity needs validation images (-validation > 0)")}
	}
	if evalLimit > 0 {
		evalImages = evalImages.Subset(evalLimit)
	}
	evals := 0
	eval := func() (float64, error) {
		evals++
		m, err := d.sess.Evaluate(evalImages)
		return m.Accuracy, err
	}
	fmt.Fprintf(stdout, "Sensitivity at %d sparsities (criterion %s, structure %s) on %d validation images\n",
		len(sparsities), cfg.Criterion.Name(), cfg.Structure.Name(), evalImages.N)
	t0 := time.Now()
	table, err := pruning.Sensitivity(d.sess.Context(), cfg, sparsities, eval)
	if err != nil {
		return err
	}
	res := &sensitivityResult{Model: m.Name, DenseRun: d.dir, Baseline: table.Baseline, Dense: denseTest,
		Evaluations: evals, AnalysisSeconds: time.Since(t0).Seconds()}
	if maxDrop > 0 {
		res.Amounts, res.Overall = table.AmountsForDrop(maxDrop)
		res.Drop = maxDrop
	} else {
		res.Amounts, res.Drop, err = table.AmountsForSparsity(target)
		if err != nil {
			return err
		}
		_, res.Overall = table.AmountsForDrop(res.Drop)
	}
	apply := cfg
	apply.Allocation = pruning.PerLayer{Amounts: res.Amounts}
	if _, err := pruning.PruneOnce(d.sess.Context(), apply, pruning.Sparsity(0)); err != nil {
		return err
	}
	if res.Pruned, err = d.sess.Evaluate(d.split.test); err != nil {
		return err
	}
	history := training.History{}
	res.Final = map[string]training.Metrics{"test": res.Pruned}
	if steps := ftLength.StepsFor(d.sess.StepsPerEpoch()); steps > 0 {
		tr, err := d.sess.Train(ftLength, d.evalSets()...)
		if err != nil {
			return err
		}
		res.Final, history = tr.Final, tr.History
	}
	report, err := d.report()
	if err != nil {
		return err
	}
	res.MaskedSparsity, res.Compression = report.MaskedSparsity, report.Compression
	res.Speedup, res.StructuredSpeedup, res.Warnings = report.Speedup, report.StructuredSpeedup, report.Warnings
	res.TotalSeconds, res.GoVersion, res.Finished = time.Since(start).Seconds(), runtime.Version(), time.Now().UTC()
	if err := writeSensitivityRun(dir, sc, table, res, history, report, d); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\n%s", report)
	printSensitivitySummary(stdout, dir, table, res)
	return nil
}

// parseLadder reads comma-separated increasing sparsities in [0, 1).
func parseLadder(s string) ([]float64, error) {
	var out []float64
	for _, part := range strings.Split(s, ",") {
		x, err := strconv.ParseFloat(strings.TrimSpace(part), 64)
		if err != nil || pruning.Sparsity(x).Validate() != nil {
			return nil, usageError{fmt.Errorf("-ladder: %q is not a sparsity in [0, 1)", part)}
		}
		out = append(out, x)
	}
	if !slices.IsSorted(out) {
		return nil, usageError{fmt.Errorf("-ladder %s: sparsities must be increasing", s)}
	}
	return out, nil
}

func writeSensitivityRun(dir string, sc sensitivityConfig, table *pruning.SensitivityTable, res *sensitivityResult,
	h training.History, report *pruning.Report, d *dense) error {
	if err := atomicfile.WriteJSON(filepath.Join(dir, configFile), sc); err != nil {
		return err
	}
	if err := atomicfile.WriteJSON(filepath.Join(dir, sensitivityJSON), table); err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(dir, sensitivityCSV), table.WriteCSV); err != nil {
		return err
	}
	if err := atomicfile.WriteJSON(filepath.Join(dir, amountsFile), res.Amounts); err != nil {
		return err
	}
	if len(h) > 0 {
		if err := writeHistory(dir, h); err != nil {
			return err
		}
	}
	if err := writeReport(dir, report); err != nil {
		return err
	}
	masks, err := pruning.GetMasks(d.sess.Context())
	if err != nil {
		return err
	}
	if err := pruning.SaveMasks(filepath.Join(dir, masksFile), masks); err != nil {
		return err
	}
	return atomicfile.WriteJSON(filepath.Join(dir, resultFile), res)
}

func printSensitivitySummary(w io.Writer, dir string, t *pruning.SensitivityTable, r *sensitivityResult) {
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
	fmt.Fprintf(w, "\nResult of %s:\n", dir)
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
		dir)
}
