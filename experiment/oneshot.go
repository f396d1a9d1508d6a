package experiment

import (
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/prunelab/prunelab/distill"
	"github.com/prunelab/prunelab/internal/atomicfile"
	"github.com/prunelab/prunelab/oneshot"
	"github.com/prunelab/prunelab/pruning"
)

// OneShotOptions are the settings of [OneShot]. The zero value prunes LeNet-300-100 (trained 3
// epochs) to 50% with Wanda from 128 calibration images.
type OneShotOptions struct {
	// Dense is the trained model to prune.
	Dense DenseOptions
	// Method is "magnitude" (per output), "magnitude-layer" (the whole layer ranked together, the
	// papers' magnitude baseline), "wanda" (default) or "sparsegpt".
	Method string
	// Pattern is an unstructured sparsity ("0.5", the default) or N:M ("2:4", "4:8": N of every M
	// consecutive input weights of each output zeroed).
	Pattern string
	// Calibration is the number of training images the statistics come from (default 128), drawn
	// at random with CalibrationSeed.
	Calibration     int
	CalibrationSeed int64
	// Skip leaves the layers matching these patterns dense (e.g. "/head/**").
	Skip []string
	// SparseGPT tunes the "sparsegpt" method (block size, dampening).
	SparseGPT oneshot.SparseGPTOptions
	// Force runs again even when the run directory holds a result.
	Force bool
}

// OneShotConfig is what changes a one-shot run's numbers (hashed, saved as config.json).
type OneShotConfig struct {
	Dense           TrainConfig
	Method, Pattern string
	Calibration     int
	CalibrationSeed int64
	Skip            []string
	BlockSize       int
	PercDamp        float64
	TestLimit       int
}

// OneShotResult is result.json of a one-shot run.
type OneShotResult struct {
	Model    string `json:"model"`
	Backend  string `json:"backend"`
	DenseRun string `json:"dense_run"`
	Method   string `json:"method"`
	Pattern  string `json:"pattern"`
	// Test accuracy (and loss) of the dense model and of the pruned one, without fine-tuning.
	DenseAccuracy  float64 `json:"dense_test_accuracy"`
	PrunedAccuracy float64 `json:"pruned_test_accuracy"`
	// Sparsity of the pruned layers' weights.
	Sparsity float64               `json:"sparsity"`
	Layers   []oneshot.LayerReport `json:"layers"`
	// Heads is the sparsity of each attention head of a known transformer (vit-tiny), block by
	// block ([HeadSparsities]).
	Heads              []HeadSparsity `json:"heads,omitempty"`
	CalibrationSeconds float64        `json:"calibration_seconds"`
	GoVersion          string         `json:"go_version"`
	Finished           time.Time      `json:"finished"`
}

// OneShotRun is a finished one-shot run.
type OneShotRun struct {
	Dir    string
	Config OneShotConfig
	Result OneShotResult
	Reused bool
}

// ParsePattern reads a one-shot sparsity pattern: a sparsity in [0, 1) ("0.5") or "N:M" ("2:4").
func ParsePattern(s string) (oneshot.Pattern, error) {
	if n, m, ok := strings.Cut(s, ":"); ok {
		ni, err1 := strconv.Atoi(n)
		mi, err2 := strconv.Atoi(m)
		if err1 != nil || err2 != nil {
			return oneshot.Pattern{}, badOptionsf("-pattern %q: want N:M with integers, e.g. 2:4", s)
		}
		p := oneshot.NM(ni, mi)
		if err := p.Validate(); err != nil {
			return p, badOptionsf("-pattern %q: %w", s, err)
		}
		return p, nil
	}
	x, err := strconv.ParseFloat(s, 64)
	p := oneshot.Unstructured(x)
	if err != nil || p.Validate() != nil {
		return p, badOptionsf("-pattern %q: want a sparsity in [0, 1) or N:M", s)
	}
	return p, nil
}

// OneShot prunes a trained model in one shot from a little calibration data, without retraining:
// every linear layer in order, each from the statistics of its inputs through the already pruned
// layers before it ([oneshot.PruneProgram]): by magnitude, by Wanda's |W|·‖X‖ or with SparseGPT's
// reconstruction. It measures the test accuracy before and after and writes config.json and
// result.json into a oneshot-MODEL-HASH run directory.
func OneShot(o OneShotOptions) (*OneShotRun, error) {
	o.Dense = o.Dense.withDefaults()
	if o.Method == "" {
		o.Method = "wanda"
	}
	if o.Pattern == "" {
		o.Pattern = "0.5"
	}
	if o.Calibration == 0 {
		o.Calibration = 128
	}
	log := logger(o.Dense.Log)
	pattern, err := ParsePattern(o.Pattern)
	if err != nil {
		return nil, err
	}
	known := false
	for _, m := range oneshot.Methods {
		known = known || m == o.Method
	}
	if !known {
		return nil, badOptionsf("unknown method %q (known: %s)", o.Method, strings.Join(oneshot.Methods, ", "))
	}
	if o.Calibration < 0 {
		return nil, badOptionsf("-calibration %d: want a positive number of images", o.Calibration)
	}
	r, err := resolveDense(o.Dense)
	if err != nil {
		return nil, err
	}
	rc, m := r.config, r.model
	targets, err := PrunableLayers(m, pruning.Selector{})
	if err != nil {
		return nil, err
	}
	if err := (PruneSettings{Skip: o.Skip}).check(pruning.Config{Structure: pruning.Unstructured{}}, targets); err != nil {
		return nil, err
	}
	cfg := OneShotConfig{Dense: rc, Method: o.Method, Pattern: pattern.String(), Calibration: o.Calibration,
		CalibrationSeed: o.CalibrationSeed, Skip: o.Skip, TestLimit: o.Dense.TestLimit}
	if o.Method == "sparsegpt" {
		cfg.BlockSize, cfg.PercDamp = o.SparseGPT.BlockSize, o.SparseGPT.PercDamp
	}
	run := &OneShotRun{Dir: filepath.Join(o.Dense.Out, fmt.Sprintf("oneshot-%s-%s", m.Name, Hash(cfg))), Config: cfg}
	if !o.Force && readJSON(filepath.Join(run.Dir, ResultFile), &run.Result) == nil {
		run.Reused = true
		return run, nil
	}

	d, err := openDense(o.Dense, r)
	if err != nil {
		return nil, err
	}
	sess := d.Session
	if o.Calibration > d.Data.Train.N {
		return nil, badOptionsf("-calibration %d: the training set has %d images", o.Calibration, d.Data.Train.N)
	}
	_, calibImages, err := d.Data.Train.Split(o.Calibration, o.CalibrationSeed)
	if err != nil {
		return nil, err
	}
	calib, err := distill.Inputs(calibImages, calibImages.N, sess.Config().Normalization)
	if err != nil {
		return nil, err
	}
	p, values, err := TraceSession(sess, m)
	if err != nil {
		return nil, err
	}
	res := &run.Result
	*res = OneShotResult{Model: m.Name, Backend: sess.Backend().Name(), DenseRun: d.Dir, Method: o.Method,
		Pattern: pattern.String()}
	norm := sess.Config().Normalization
	if res.DenseAccuracy, err = ProgramAccuracy(sess.Backend(), p, values, d.Data.Test, norm); err != nil {
		return nil, err
	}
	fmt.Fprintf(log, "One-shot %s to %s from %d calibration images (seed %d); dense test accuracy %.2f%%\n", o.Method,
		pattern, o.Calibration, o.CalibrationSeed, 100*res.DenseAccuracy)
	skip := func(path string) bool {
		for _, s := range o.Skip {
			if ok, _ := pruning.MatchPattern(s, path); ok {
				return true
			}
		}
		return false
	}
	start := time.Now()
	pruned, _, layers, err := oneshot.PruneProgram(sess.Backend(), p, values, calib, oneshot.ProgramOptions{
		Method: o.Method, Pattern: pattern, Skip: skip, SparseGPT: o.SparseGPT})
	if err != nil {
		return nil, err
	}
	res.CalibrationSeconds = time.Since(start).Seconds()
	res.Layers = layers
	var zeros, total float64
	for _, l := range layers {
		zeros += l.Sparsity * float64(l.In*l.Out)
		total += float64(l.In * l.Out)
		fmt.Fprintf(log, "  %-32s %4d x %-4d sparsity %.3f, relative output error %.4f, outlier ratio %.1f\n", l.Path,
			l.In, l.Out, l.Sparsity, l.RelativeError, l.OutlierRatio)
	}
	if total > 0 {
		res.Sparsity = zeros / total
	}
	if cfg, ok := vitConfigs[m.Name]; ok {
		if res.Heads, err = HeadSparsities(pruned, cfg.Blocks, cfg.Heads, cfg.Width/cfg.Heads); err != nil {
			return nil, err
		}
	}
	if res.PrunedAccuracy, err = ProgramAccuracy(sess.Backend(), p, pruned, d.Data.Test, norm); err != nil {
		return nil, err
	}
	res.GoVersion, res.Finished = runtime.Version(), time.Now().UTC()
	if err := atomicfile.WriteJSON(filepath.Join(run.Dir, ConfigFile), cfg); err != nil {
		return nil, err
	}
	return run, atomicfile.WriteJSON(filepath.Join(run.Dir, ResultFile), res)
}

// WriteSummary prints the accuracy before and after and where the files are.
func (run *OneShotRun) WriteSummary(w io.Writer) {
	if run.Reused {
		fmt.Fprintf(w, "prunelab oneshot: %s already holds this run's result (-force runs it again).\n", run.Dir)
	}
	r := run.Result
	fmt.Fprintf(w, "\nResult of %s:\n", run.Dir)
	fmt.Fprintf(w, "  test accuracy  %.2f%% dense -> %.2f%% after %s to %s (%.2f%% of the pruned layers' weights zero), "+
		"no fine-tuning\n", 100*r.DenseAccuracy, 100*r.PrunedAccuracy, r.Method, r.Pattern, 100*r.Sparsity)
	fmt.Fprintf(w, "  time           %.1f s of calibration and pruning over %d layers\n", r.CalibrationSeconds, len(r.Layers))
	writeHeadSparsities(w, r.Heads)
	fmt.Fprintf(w, "Files: %s/ (config.json, result.json)\n", run.Dir)
}
