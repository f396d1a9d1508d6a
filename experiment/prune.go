package experiment

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/prunelab/prunelab/internal/atomicfile"
	"github.com/prunelab/prunelab/pruning"
	"github.com/prunelab/prunelab/report"
	"github.com/prunelab/prunelab/training"
)

// PruneOptions are the settings of [Prune]. The zero value prunes LeNet-300-100 (trained 3 epochs)
// to 80% by global magnitude at once, then fine-tunes it for one epoch.
type PruneOptions struct {
	// Dense is the model to start from.
	Dense DenseOptions
	// Prune says what is pruned (its Allocation defaults to "global"); Schedule when.
	Prune    PruneSettings
	Schedule ScheduleSettings
	// ResetOptimizer clears the optimizer state (Adam moments) before fine-tuning.
	ResetOptimizer bool
	// SkipCheckpoint leaves the pruned model's checkpoint out of the run directory.
	SkipCheckpoint bool
	// Force runs again even when the run directory holds a result.
	Force bool
	// ONNXInt8, for a flow started from an ONNX file, also writes the pruned model with INT8
	// weights (model-int8.onnx: per-channel DequantizeLinear, checked on writing).
	ONNXInt8 bool
}

// PruneConfig is what changes a prune run's numbers: hashed to name its directory
// (prune-MODEL-HASH), saved in it as config.json.
type PruneConfig struct {
	Dense                                     TrainConfig
	Criterion, Structure, Allocation, Ties    string
	LayerAmounts                              string
	Include, Skip                             []string
	MinKeep, GradientBatches                  int
	Schedule, Finetune, Begin, End, Frequency string
	Sparsity, Power, LR                       float64
	Cycles                                    int
	ResetOptimizer                            bool
	TestLimit                                 int
	// ONNXInt8 says the run directory also holds the model with INT8 weights (its files, not its
	// numbers, change).
	ONNXInt8 bool `json:",omitempty"`
	// NormalizePerLayer is PruneSettings.NormalizePerLayer (omitted when false: earlier runs keep
	// their directory names).
	NormalizePerLayer bool `json:",omitempty"`
}

// UpdateRecord is one mask update of a prune run.
type UpdateRecord struct {
	Step int `json:"step"` // steps since pruning began
	*pruning.Result
}

// PruneResult is result.json of a prune run.
type PruneResult struct {
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
	Updates            []UpdateRecord `json:"updates"`
	Warnings           []string       `json:"warnings,omitempty"`
	GoVersion          string         `json:"go_version"`
	Finished           time.Time      `json:"finished"`
	// ONNX is the pruned model written as ONNX (same graph, new weights) when the run started
	// from an ONNX file; ONNXInt8 the same with INT8 weights (PruneOptions.ONNXInt8).
	ONNX     string `json:"onnx,omitempty"`
	ONNXInt8 string `json:"onnx_int8,omitempty"`
	// Transformer says what the structures "heads" and "blocks" took out of a transformer (nil for
	// the other structures).
	Transformer *TransformerPruning `json:"transformer,omitempty"`
}

// PruneRun is a finished prune run.
type PruneRun struct {
	Dir    string
	Config PruneConfig
	Result PruneResult
	// Reused says the run was found finished in Dir and not run again; then Dense and Report are
	// nil (report.json in Dir holds the report).
	Reused bool
	Dense  *Dense
	Report *pruning.Report
	// Checkpoint says whether Dir holds the pruned model's checkpoint.
	Checkpoint bool
}

// Prune prunes a dense model with any criterion, structure, allocation and schedule, fine-tunes
// it with the pruned weights held at exactly zero, and writes the run directory: config.json,
// result.json (accuracy before and after, sparsity, compression, speedup, each mask update),
// history.json/.csv, updates.csv, report.txt/.json, masks.json, mask figures (SVG and PNG) and the
// pruned checkpoint. A finished run is read back instead of run again unless o.Force.
func Prune(o PruneOptions) (*PruneRun, error) {
	start := time.Now()
	o.Dense = o.Dense.withDefaults()
	if o.Prune.Allocation == "" && o.Prune.LayerAmounts == "" {
		o.Prune.Allocation = "global"
	}
	o.Schedule = o.Schedule.withDefaults()
	log := logger(o.Dense.Log)
	r, err := resolveDense(o.Dense)
	if err != nil {
		return nil, err
	}
	rc, m := r.config, r.model
	targets, err := PrunableLayers(m, o.Prune.Selector())
	if err != nil {
		return nil, err
	}
	cfg, sel, err := o.Prune.Config(targets, rc.Seed)
	if err != nil {
		return nil, err
	}
	if err := o.Prune.checkGateAmount(cfg, targets, o.Schedule.Sparsity); err != nil {
		return nil, err
	}
	if _, isPerLayer := cfg.Allocation.(pruning.PerLayer); isPerLayer && o.Schedule.Schedule != "oneshot" {
		return nil, badOptions(errors.New("-layer-amounts gives each layer its final sparsity: use it with -schedule oneshot"))
	}
	if _, _, err := o.Schedule.Build(1000); err != nil { // syntax and ranges, before loading anything
		return nil, err
	}
	s, p := o.Schedule, o.Prune
	pc := PruneConfig{Dense: rc, Criterion: cfg.Criterion.Name(), Structure: cfg.Structure.Name(),
		Allocation: cfg.Allocation.Name(), Ties: cfg.Ties.String(), LayerAmounts: p.LayerAmounts,
		Include: p.Include, Skip: p.Skip, MinKeep: p.MinKeep, GradientBatches: cfg.GradientBatches,
		Schedule: s.Schedule, Finetune: s.Finetune, Begin: s.Begin, End: s.End, Frequency: s.Frequency,
		Sparsity: s.Sparsity, Power: s.Power, LR: o.Dense.LR, Cycles: s.Cycles, ResetOptimizer: o.ResetOptimizer,
		TestLimit: o.Dense.TestLimit, ONNXInt8: o.ONNXInt8 && o.Dense.ONNX != "", NormalizePerLayer: p.NormalizePerLayer}
	if s.Schedule != "iterative" {
		pc.Cycles = 0
	}
	if s.Schedule != "polynomial" {
		pc.Begin, pc.End, pc.Frequency, pc.Power = "", "", "", 0
	}
	run := &PruneRun{Dir: filepath.Join(o.Dense.Out, fmt.Sprintf("prune-%s-%s", m.Name, Hash(pc))), Config: pc,
		Checkpoint: !o.SkipCheckpoint}
	if !o.Force && readJSON(filepath.Join(run.Dir, ResultFile), &run.Result) == nil {
		run.Reused = true
		return run, nil
	}

	d, err := openDense(o.Dense, r)
	if err != nil {
		return nil, err
	}
	run.Dense = d
	sess := d.Session
	sched, total, err := s.Build(sess.StepsPerEpoch())
	if err != nil {
		return nil, err
	}
	denseTest, err := d.InstallMasks(sel, &cfg)
	if err != nil {
		return nil, err
	}
	if o.ResetOptimizer {
		if err := sess.ResetOptimizer(); err != nil {
			return nil, err
		}
	}
	res := &run.Result
	*res = PruneResult{Model: m.Name, Backend: sess.Backend().Name(), DenseRun: d.Dir,
		Schedule: fmt.Sprintf("%T%+v", sched, sched), Dense: denseTest}
	paths := make([]string, len(targets))
	for i, t := range targets {
		paths[i] = t.Path()
	}
	fmt.Fprintf(log, "Pruning %s: %s, criterion %s, structure %s, allocation %s; %d fine-tuning steps, %d CPUs\n",
		strings.Join(paths, " "), s.Schedule, cfg.Criterion.Name(), cfg.Structure.Name(), cfg.Allocation.Name(),
		total, runtime.NumCPU())
	fmt.Fprintf(log, "Dense test accuracy %.2f%%\n", 100*denseTest.Accuracy)

	driver := pruning.NewDriver(sess.Context(), sched, cfg)
	begin := sess.Step()
	record := func(step int) error {
		updated, err := driver.AfterStep(step)
		if err != nil || !updated {
			return err
		}
		h := driver.History()
		u := h[len(h)-1]
		res.Updates = append(res.Updates, UpdateRecord{Step: step, Result: u})
		fmt.Fprintf(log, "step %6d  masks updated: %d of %d weights pruned (%.2f%%)\n", begin+step, u.PrunedAfter,
			u.Size, 100*u.Sparsity)
		return nil
	}
	if err := record(0); err != nil {
		return nil, err
	}
	if sched.IsUpdateStep(0) && s.Schedule == "oneshot" {
		m, err := sess.Evaluate(d.Data.Test)
		if err != nil {
			return nil, err
		}
		res.AfterPruning = &m
		fmt.Fprintf(log, "Test accuracy right after pruning %.2f%%\n", 100*m.Accuracy)
	}
	sess.OnStep(func(step int) error { return record(step - begin) })
	tr, err := sess.Train(training.Length{Steps: total}, evalSets(d.Data)...)
	if err != nil {
		return nil, err
	}
	if run.Report, err = d.Report(); err != nil {
		return nil, err
	}
	if res.Pruned, res.PrunedNonZero, err = pruning.PrunedNonZero(sess.Context()); err != nil {
		return nil, err
	}
	rep := run.Report
	res.Final = tr.Final
	res.MaskedSparsity, res.Sparsity = rep.MaskedSparsity, rep.Sparsity
	res.Compression, res.Speedup, res.StructuredSpeedup = rep.Compression, rep.Speedup, rep.StructuredSpeedup
	res.Steps = tr.Steps
	res.MaskedEpochSeconds = epochSeconds(tr, sess.StepsPerEpoch())
	if tr.Steps > 0 {
		res.MsPerStep = 1000 * tr.TrainDuration.Seconds() / float64(tr.Steps)
	}
	res.TrainSeconds, res.TotalSeconds = tr.TrainDuration.Seconds(), time.Since(start).Seconds()
	res.Warnings, res.GoVersion, res.Finished = rep.Warnings, runtime.Version(), time.Now().UTC()
	if res.Transformer, err = transformerPruning(sess, m, o.Prune.Structure); err != nil {
		return nil, err
	}
	if err := run.write(tr.History); err != nil {
		return nil, err
	}
	return run, nil
}

func (run *PruneRun) write(h training.History) error {
	dir, res, sess := run.Dir, &run.Result, run.Dense.Session
	if err := atomicfile.WriteJSON(filepath.Join(dir, ConfigFile), run.Config); err != nil {
		return err
	}
	if err := writeHistory(dir, h); err != nil {
		return err
	}
	if err := writeReport(dir, run.Report); err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(dir, UpdatesCSVFile), func(w io.Writer) error {
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
	masks, err := pruning.GetMasks(sess.Context())
	if err != nil {
		return err
	}
	if err := pruning.SaveMasks(filepath.Join(dir, MasksFile), masks); err != nil {
		return err
	}
	figs, err := report.MaskFigures(masks)
	if err != nil {
		return err
	}
	if _, err := report.WriteFigures(dir, figs); err != nil {
		return err
	}
	if run.Checkpoint {
		if err := sess.Save(filepath.Join(dir, CheckpointDir), 1); err != nil {
			return err
		}
	}
	if res.ONNX, res.ONNXInt8, err = writeONNX(run.Dense, sess, dir, run.Config.ONNXInt8); err != nil {
		return err
	}
	return atomicfile.WriteJSON(filepath.Join(dir, ResultFile), res) // last: its presence marks the run done
}

// WriteSummary prints the run's report (when it ran now) and result: accuracy before and after,
// sparsity, compression, whether the masks held, time, files.
func (run *PruneRun) WriteSummary(w io.Writer) {
	if run.Reused {
		fmt.Fprintf(w, "prunelab prune: %s already holds this run's result (-force runs it again).\n", run.Dir)
	} else if run.Report != nil {
		fmt.Fprintf(w, "\n%s", run.Report)
	}
	r := &run.Result
	test := r.Final["test"]
	fmt.Fprintf(w, "\nResult of %s:\n", run.Dir)
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
	r.Transformer.writeSummary(w)
	for _, warning := range r.Warnings {
		fmt.Fprintf(w, "  note           %s\n", warning)
	}
	files := "config.json, result.json, history.json/.csv, updates.csv, report.txt/.json, masks.json, " +
		"masks.png, sparsity_by_layer.png, first_layer_pixels.png (and .svg)"
	if r.Transformer != nil { // gates: no mask heatmaps, no pixels
		files = strings.Replace(files, "masks.png, sparsity_by_layer.png, first_layer_pixels.png", "sparsity_by_layer.png", 1)
	}
	if run.Checkpoint {
		files += ", checkpoint/"
	}
	if r.ONNX != "" {
		files += ", " + ONNXFile + " (the pruned model as ONNX)"
	}
	if r.ONNXInt8 != "" {
		files += ", " + ONNXInt8File + " (the same with INT8 weights)"
	}
	fmt.Fprintf(w, "Files: %s/ (%s)\n", run.Dir, files)
}
