package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/prunelab/prunelab/internal/atomicfile"
	"github.com/prunelab/prunelab/pruning"
	figures "github.com/prunelab/prunelab/report"
	"github.com/prunelab/prunelab/training"
)

func init() { commands["prune"] = pruneCommand }

var pruneCommand = command{
	summary: "prune a trained model with any schedule, criterion, scope and structure, fine-tune, report",
	usage:   pruneUsage,
	run:     runPrune,
}

const pruneUsage = `prunelab prune: prune a dense model, fine-tune it, and report accuracy, sparsity and cost.

The dense model is a "prunelab train" run: -from RUN_DIR, or the run the dense flags describe
(LeNet-300-100 on MNIST for 3 epochs by default), trained first if its directory holds no checkpoint
yet and reused afterwards. Masks are added to the model without changing its code; pruned weights
stay exactly zero through fine-tuning (Adam included).

What is pruned: -criterion scores weights, -structure groups them (single weights, neurons, N:M,
blocks), -allocation spreads the amount over layers (each layer alike, globally, ERK, or per layer),
-skip and -include choose layers. When: -schedule
  oneshot     prune to -sparsity at once, then fine-tune for -finetune;
  iterative   -cycles prune-and-fine-tune cycles in -finetune, each pruning the same fraction of the
              remaining weights (Lottery Ticket style), reaching -sparsity at the last;
  polynomial  gradual pruning (Zhu & Gupta 2017) from -begin to -end every -frequency, cubic, then
              fine-tuning until -finetune ends.
Lengths are steps ("500it") or epochs ("2ep"), counted from the start of pruning.

The run directory (named by a hash of every setting that changes results) holds config.json,
result.json (accuracy before and after, sparsity, compression, speedup, each mask update),
history.json/.csv (every evaluation), updates.csv, report.txt/.json (per-layer parameters,
non-zeros, FLOPs), masks.json, figures of the masks (masks, sparsity_by_layer, first_layer_pixels; SVG
and PNG) and the pruned checkpoint. A finished run is not redone (-force).

Examples:
  prunelab prune                                         # one-shot 80% global magnitude, 1 epoch fine-tuning
  prunelab prune -schedule polynomial -sparsity 0.95 -finetune 7ep -end 4ep   # 10 epochs in all
  prunelab prune -structure out_channels -criterion l2norm -allocation layerwise -sparsity 0.5 \
      -skip /fc2/dense/weights                           # neurons; the output layer's are the classes
  prunelab prune -structure 2:4 -skip /fc2/dense/weights
  prunelab train -steps 3ep && prunelab prune -from runs/train-lenet-300-100-<hash>
`

// scheduleFlags say when to prune.
type scheduleFlags struct {
	Schedule, Finetune, Begin, End, Frequency string
	Sparsity, Power                           float64
	Cycles                                    int
}

var scheduleNames = []string{"oneshot", "iterative", "polynomial"}

func (f *scheduleFlags) register(fs interface {
	StringVar(*string, string, string, string)
	Float64Var(*float64, string, float64, string)
	IntVar(*int, string, int, string)
}) {
	fs.StringVar(&f.Schedule, "schedule", "oneshot", "when to prune: "+strings.Join(scheduleNames, ", "))
	fs.Float64Var(&f.Sparsity, "sparsity", 0.8, "final sparsity of the pruned layers, in [0, 1)")
	fs.StringVar(&f.Finetune, "finetune", "1ep", "training with masks, from the first pruning on")
	fs.IntVar(&f.Cycles, "cycles", 5, "iterative: number of prune-and-fine-tune cycles")
	fs.StringVar(&f.Begin, "begin", "0it", "polynomial: first mask update")
	fs.StringVar(&f.End, "end", "", "polynomial: last mask update, where -sparsity is reached (default: 3/4 of -finetune)")
	fs.StringVar(&f.Frequency, "frequency", "100it", "polynomial: steps between mask updates")
	fs.Float64Var(&f.Power, "power", 3, "polynomial: exponent of the sparsity curve")
}

// schedule returns the schedule in steps from the start of pruning and the fine-tuning steps.
func (f *scheduleFlags) schedule(stepsPerEpoch int) (pruning.Schedule, int, error) {
	steps := func(name, s string) (int, error) {
		l, err := training.ParseLength(s)
		if err != nil {
			return 0, usageError{fmt.Errorf("-%s: %w", name, err)}
		}
		return l.StepsFor(stepsPerEpoch), nil
	}
	total, err := steps("finetune", f.Finetune)
	if err != nil {
		return nil, 0, err
	}
	if err := pruning.Sparsity(f.Sparsity).Validate(); err != nil {
		return nil, 0, usageError{fmt.Errorf("-sparsity: %w", err)}
	}
	var s pruning.Schedule
	switch f.Schedule {
	case "oneshot", "one-shot":
		s = pruning.OneShot{Step: 0, Sparsity: f.Sparsity}
	case "iterative":
		if f.Cycles < 1 {
			return nil, 0, usageError{fmt.Errorf("-cycles must be at least 1, got %d", f.Cycles)}
		}
		if total < f.Cycles {
			return nil, 0, usageError{fmt.Errorf("-finetune %s (%d steps) is shorter than -cycles %d", f.Finetune, total,
				f.Cycles)}
		}
		s = pruning.NewIterative(0, total/f.Cycles, f.Cycles, f.Sparsity)
	case "polynomial", "gradual":
		begin, err := steps("begin", f.Begin)
		if err != nil {
			return nil, 0, err
		}
		end := total * 3 / 4
		if f.End != "" {
			if end, err = steps("end", f.End); err != nil {
				return nil, 0, err
			}
		}
		freq, err := steps("frequency", f.Frequency)
		if err != nil {
			return nil, 0, err
		}
		if end > total {
			return nil, 0, usageError{fmt.Errorf("-end %s (step %d) is after the end of -finetune %s (step %d)", f.End, end,
				f.Finetune, total)}
		}
		s = pruning.Polynomial{Final: f.Sparsity, Begin: begin, End: end, Frequency: freq, Power: f.Power}
	default:
		return nil, 0, usageError{fmt.Errorf("unknown schedule %q (known: %s)", f.Schedule, strings.Join(scheduleNames, ", "))}
	}
	if err := pruning.ValidateSchedule(s); err != nil {
		return nil, 0, usageError{err}
	}
	return s, total, nil
}

// pruneConfig is what changes a prune run's numbers: hashed to name its directory, saved beside it.
type pruneConfig struct {
	Dense                                     runConfig
	Criterion, Structure, Allocation, Ties    string
	LayerAmounts                              string
	Include, Skip                             []string
	MinKeep, GradientBatches                  int
	Schedule, Finetune, Begin, End, Frequency string
	Sparsity, Power, LR                       float64
	Cycles                                    int
	ResetOptimizer                            bool
	TestLimit                                 int
}

// updateRecord is one mask update of a prune run.
type updateRecord struct {
	Step int `json:"step"` // steps since pruning began
	*pruning.Result
}

// pruneResult is result.json of a prune run.
type pruneResult struct {
	Model    string `json:"model"`
	Backend  string `json:"backend"`
	DenseRun string `json:"dense_run"`
	Schedule string `json:"schedule"`
	// Test metrics: of the dense model, right after a one-shot pruning (before fine-tuning), and
	// at the end.
	Dense        training.Metrics            `json:"dense"`
	AfterPruning *training.Metrics           `json:"after_pruning,omitempty"`
	Final        map[string]training.Metrics `json:"final"`
	// Sparsity of the masked (prunable) weights and of all parameters; Compression, Speedup and
	// StructuredSpeedup as in the report (ShrinkBench's definitions).
	MaskedSparsity    float64 `json:"masked_sparsity"`
	Sparsity          float64 `json:"sparsity"`
	Compression       float64 `json:"compression"`
	Speedup           float64 `json:"speedup"`
	StructuredSpeedup float64 `json:"structured_speedup"`
	// Pruned counts the masked-out weights, PrunedNonZero those of them not exactly zero after
	// fine-tuning (0: masks held).
	Pruned        int `json:"pruned"`
	PrunedNonZero int `json:"pruned_nonzero"`
	Steps         int `json:"steps"`
	// MaskedEpochSeconds is the training time of each full epoch with masks; MsPerStep the mean.
	MaskedEpochSeconds []float64      `json:"masked_epoch_seconds"`
	MsPerStep          float64        `json:"ms_per_step"`
	TrainSeconds       float64        `json:"train_seconds"`
	TotalSeconds       float64        `json:"total_seconds"`
	Updates            []updateRecord `json:"updates"`
	Warnings           []string       `json:"warnings,omitempty"`
	GoVersion          string         `json:"go_version"`
	Finished           time.Time      `json:"finished"`
}

type pruneFlagSet struct {
	dense                denseFlags
	prune                pruneFlags
	sched                scheduleFlags
	resetOptimizer, ckpt bool
	force                bool
}

func runPrune(args []string, stdout, stderr io.Writer) error {
	var f pruneFlagSet
	fs := newFlagSet("prune", pruneUsage, stderr)
	f.dense.register(fs)
	f.prune.register(fs, true)
	f.sched.register(fs)
	fs.BoolVar(&f.resetOptimizer, "reset-optimizer", false, "clear the optimizer state (Adam moments) before fine-tuning")
	fs.BoolVar(&f.ckpt, "checkpoint", true, "save the pruned model's checkpoint in the run directory")
	fs.BoolVar(&f.force, "force", false, "run again even if the run directory holds a result")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	start := time.Now()
	rc, m, denseDir, err := f.dense.denseConfig(explicitFlags(fs))
	if err != nil {
		return err
	}
	targets, err := prunableLayers(m, pruning.Selector{Include: f.prune.Include})
	if err != nil {
		return err
	}
	cfg, sel, err := f.prune.config(targets, rc.Seed)
	if err != nil {
		return err
	}
	if _, isPerLayer := cfg.Allocation.(pruning.PerLayer); isPerLayer && f.sched.Schedule != "oneshot" {
		return usageError{errors.New("-layer-amounts gives each layer its final sparsity: use it with -schedule oneshot")}
	}
	if _, _, err := f.sched.schedule(1000); err != nil { // syntax and ranges, before loading anything
		return err
	}
	pc := pruneConfig{Dense: rc, Criterion: cfg.Criterion.Name(), Structure: cfg.Structure.Name(),
		Allocation: cfg.Allocation.Name(), Ties: cfg.Ties.String(), LayerAmounts: f.prune.LayerAmounts,
		Include: f.prune.Include, Skip: f.prune.Skip, MinKeep: f.prune.MinKeep, GradientBatches: f.prune.GradientBatches,
		Schedule: f.sched.Schedule, Finetune: f.sched.Finetune, Begin: f.sched.Begin, End: f.sched.End,
		Frequency: f.sched.Frequency, Sparsity: f.sched.Sparsity, Power: f.sched.Power, LR: f.dense.LR,
		Cycles: f.sched.Cycles, ResetOptimizer: f.resetOptimizer, TestLimit: f.dense.TestLimit}
	if f.sched.Schedule != "iterative" {
		pc.Cycles = 0
	}
	if f.sched.Schedule != "polynomial" {
		pc.Begin, pc.End, pc.Frequency, pc.Power = "", "", "", 0
	}
	dir := filepath.Join(f.dense.Out, fmt.Sprintf("prune-%s-%s", m.Name, hash(pc)))
	if !f.force {
		if b, err := os.ReadFile(filepath.Join(dir, resultFile)); err == nil {
			var res pruneResult
			if err := json.Unmarshal(b, &res); err == nil {
				fmt.Fprintf(stdout, "prunelab prune: %s already holds this run's result (-force runs it again).\n", dir)
				printPruneSummary(stdout, dir, &res, f.ckpt)
				return nil
			}
		}
	}

	d, err := f.dense.loadDense(rc, m, denseDir, stdout)
	if err != nil {
		return err
	}
	sched, total, err := f.sched.schedule(d.sess.StepsPerEpoch())
	if err != nil {
		return err
	}
	denseTest, err := d.installMasks(sel, &cfg)
	if err != nil {
		return err
	}
	if f.resetOptimizer {
		if err := d.sess.ResetOptimizer(); err != nil {
			return err
		}
	}
	res := &pruneResult{Model: m.Name, Backend: d.sess.Backend().Name(), DenseRun: d.dir,
		Schedule: fmt.Sprintf("%T%+v", sched, sched), Dense: denseTest}
	fmt.Fprintf(stdout, "Pruning %s: %s, criterion %s, structure %s, allocation %s; %d fine-tuning steps, %d CPUs\n",
		strings.Join(paths(targets), " "), f.sched.Schedule, cfg.Criterion.Name(), cfg.Structure.Name(), cfg.Allocation.Name(),
		total, runtime.NumCPU())
	fmt.Fprintf(stdout, "Dense test accuracy %.2f%%\n", 100*denseTest.Accuracy)

	driver := pruning.NewDriver(d.sess.Context(), sched, cfg)
	begin := d.sess.Step()
	record := func(step int) error {
		updated, err := driver.AfterStep(step)
		if err != nil || !updated {
			return err
		}
		h := driver.History()
		u := h[len(h)-1]
		res.Updates = append(res.Updates, updateRecord{Step: step, Result: u})
		fmt.Fprintf(stdout, "step %6d  masks updated: %d of %d weights pruned (%.2f%%)\n", begin+step, u.PrunedAfter,
			u.Size, 100*u.Sparsity)
		return nil
	}
	if err := record(0); err != nil {
		return err
	}
	if sched.IsUpdateStep(0) && f.sched.Schedule == "oneshot" {
		m, err := d.sess.Evaluate(d.split.test)
		if err != nil {
			return err
		}
		res.AfterPruning = &m
		fmt.Fprintf(stdout, "Test accuracy right after pruning %.2f%%\n", 100*m.Accuracy)
	}
	d.sess.OnStep(func(step int) error { return record(step - begin) })
	tr, err := d.sess.Train(training.Length{Steps: total}, d.evalSets()...)
	if err != nil {
		return err
	}
	report, err := d.report()
	if err != nil {
		return err
	}
	pruned, nonZero, err := pruning.PrunedNonZero(d.sess.Context())
	if err != nil {
		return err
	}
	res.Final = tr.Final
	res.MaskedSparsity, res.Sparsity = report.MaskedSparsity, report.Sparsity
	res.Compression, res.Speedup, res.StructuredSpeedup = report.Compression, report.Speedup, report.StructuredSpeedup
	res.Pruned, res.PrunedNonZero, res.Steps = pruned, nonZero, tr.Steps
	res.MaskedEpochSeconds = epochSeconds(tr, d.sess.StepsPerEpoch())
	if tr.Steps > 0 {
		res.MsPerStep = 1000 * tr.TrainDuration.Seconds() / float64(tr.Steps)
	}
	res.TrainSeconds, res.TotalSeconds = tr.TrainDuration.Seconds(), time.Since(start).Seconds()
	res.Warnings, res.GoVersion, res.Finished = report.Warnings, runtime.Version(), time.Now().UTC()

	if err := writePruneRun(dir, pc, res, tr.History, report, d, f.ckpt); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\n%s", report)
	printPruneSummary(stdout, dir, res, f.ckpt)
	return nil
}

// needsGradients reports whether a criterion reads gradients.
func needsGradients(c pruning.Criterion) bool {
	switch c.(type) {
	case pruning.TaylorCriterion, pruning.SNIPCriterion, pruning.MovementCriterion:
		return true
	}
	return false
}

func writePruneRun(dir string, pc pruneConfig, res *pruneResult, h training.History, report *pruning.Report, d *dense,
	ckpt bool) error {
	if err := atomicfile.WriteJSON(filepath.Join(dir, configFile), pc); err != nil {
		return err
	}
	if err := writeHistory(dir, h); err != nil {
		return err
	}
	if err := writeReport(dir, report); err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(dir, updatesCSVFile), func(w io.Writer) error {
		if _, err := fmt.Fprintln(w, "step,layer,size,pruned_before,pruned_after,sparsity"); err != nil {
			return err
		}
		for _, u := range res.Updates {
			for _, l := range u.Layers {
				if _, err := fmt.Fprintf(w, "%d,%s,%d,%d,%d,%.6g\n", u.Step, l.Path, l.Size, l.PrunedBefore, l.PrunedAfter,
					l.Sparsity); err != nil {
					return err
				}
			}
		}
		return nil
	}); err != nil {
		return err
	}
	masks, err := pruning.GetMasks(d.sess.Context())
	if err != nil {
		return err
	}
	if err := pruning.SaveMasks(filepath.Join(dir, masksFile), masks); err != nil {
		return err
	}
	figs, err := figures.MaskFigures(masks)
	if err != nil {
		return err
	}
	if _, err := figures.WriteFigures(dir, figs); err != nil {
		return err
	}
	if ckpt {
		if err := d.sess.Save(filepath.Join(dir, checkpointDir), 1); err != nil {
			return err
		}
	}
	return atomicfile.WriteJSON(filepath.Join(dir, resultFile), res) // last: its presence marks the run done
}

func printPruneSummary(w io.Writer, dir string, r *pruneResult, ckpt bool) {
	test := r.Final["test"]
	fmt.Fprintf(w, "\nResult of %s:\n", dir)
	line := fmt.Sprintf("  test accuracy  %.2f%% dense", 100*r.Dense.Accuracy)
	if r.AfterPruning != nil {
		line += fmt.Sprintf(" -> %.2f%% pruned", 100*r.AfterPruning.Accuracy)
	}
	fmt.Fprintf(w, "%s -> %.2f%% after %d steps with masks\n", line, 100*test.Accuracy, r.Steps)
	fmt.Fprintf(w, "  sparsity       %.2f%% of the pruned layers' weights (%.2f%% of all parameters)\n",
		100*r.MaskedSparsity, 100*r.Sparsity)
	fmt.Fprintf(w, "  compression    %.2fx; theoretical speedup %.2fx (structured %.2fx)\n", r.Compression, r.Speedup,
		r.StructuredSpeedup)
	fmt.Fprintf(w, "  masks held     %d of %d pruned weights non-zero after fine-tuning\n", r.PrunedNonZero, r.Pruned)
	fmt.Fprintf(w, "  time           %.1f s of training with masks (%.1f ms/step), %.1f s in all\n", r.TrainSeconds,
		r.MsPerStep, r.TotalSeconds)
	for _, warning := range r.Warnings {
		fmt.Fprintf(w, "  note           %s\n", warning)
	}
	files := "config.json, result.json, history.json/.csv, updates.csv, report.txt/.json, masks.json, " +
		"masks.png, sparsity_by_layer.png, first_layer_pixels.png (and .svg)"
	if ckpt {
		files += ", checkpoint/"
	}
	fmt.Fprintf(w, "Files: %s/ (%s)\n", dir, files)
}
