package experiment

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/prunelab/prunelab/compact"
	"github.com/prunelab/prunelab/distill"
	"github.com/prunelab/prunelab/export"
	"github.com/prunelab/prunelab/internal/atomicfile"
	"github.com/prunelab/prunelab/program"
	"github.com/prunelab/prunelab/pruning"
	"github.com/prunelab/prunelab/quantize"
	"github.com/prunelab/prunelab/sparse"
	"github.com/prunelab/prunelab/training"
)

// CompactOptions are the settings of [Compact]. The zero value of TimeBatches times nothing; the
// CLI's default is 1 and 256.
type CompactOptions struct {
	Pipeline PipelineOptions
	// TimeBatches are the batch sizes inference is timed at; TimeRuns the timed runs per size
	// (default 10; the median is reported).
	TimeBatches []int
	TimeRuns    int
}

// CompactReport is report.json of a compact run.
type CompactReport struct {
	Model             string          `json:"model"`
	Backend           string          `json:"backend"`
	Structure         string          `json:"structure"`
	ChannelSparsity   float64         `json:"channel_sparsity"`
	PruneSteps        []string        `json:"prune_steps"`
	DenseAccuracy     float64         `json:"dense_test_accuracy"`
	PrunedAccuracy    float64         `json:"pruned_test_accuracy"`
	CompactedAccuracy float64         `json:"compacted_test_accuracy"`
	Compaction        *compact.Report `json:"compaction"`
	// Median inference times (ms) of the pruned (masked) and compacted models, by batch size.
	Timings  []CompactTiming `json:"timings"`
	File     string          `json:"file"`
	FileSize int             `json:"file_bytes"`
	Finished time.Time       `json:"finished"`
}

// CompactTiming is one batch size's inference times in a [CompactReport].
type CompactTiming struct {
	Batch       int     `json:"batch"`
	PrunedMs    float64 `json:"pruned_ms"`
	CompactedMs float64 `json:"compacted_ms"`
	Speedup     float64 `json:"speedup"`
	// Efficiency is Speedup over the theoretical speedup (MACs ratio).
	Efficiency float64 `json:"efficiency"`
}

// Compact prunes whole channels and removes them for real: every channel whose weights are all zero
// goes, with everything coupled to it in the model's graph ([compact.Compact]). It checks the
// compacted model's test accuracy, times the pruned and compacted models as an inference compiler
// runs them ([program.Fold]) and writes model.plx and report.json into a compact-MODEL-HASH run
// directory. It returns the report and the directory.
func Compact(o CompactOptions) (*CompactReport, string, error) {
	if o.Pipeline.Structure == "" {
		o.Pipeline.Structure = "groups"
	}
	if o.TimeRuns == 0 {
		o.TimeRuns = 10
	}
	pl, err := NewPipeline(o.Pipeline)
	if err != nil {
		return nil, "", err
	}
	log, b := logger(pl.Options.Log), pl.Session.Backend()
	p, values, err := pl.Trace()
	if err != nil {
		return nil, "", err
	}
	res, err := compact.Compact(b, p, values, compact.Options{Seed: uint64(pl.Options.Seed)})
	if err != nil {
		return nil, "", err
	}
	rep := &CompactReport{Model: pl.Model.Name, Backend: b.Name(), Structure: pl.Options.Structure,
		ChannelSparsity: pl.Options.Prune, PruneSteps: pl.PruneSteps, DenseAccuracy: pl.DenseAccuracy,
		PrunedAccuracy: pl.PrunedAccuracy, Compaction: res.Report}
	c := res.Report
	fmt.Fprintf(log, "compacted: %d of %d channels removed (%d cannot be: model input/output or mixed), "+
		"params %d -> %d, MACs %d -> %d (%.2fx fewer), %d compensation constants, max |diff| %.2g\n",
		c.RemovedChannels, c.Channels, c.FrozenChannels, c.ParamsBefore, c.ParamsAfter, c.MACsBefore, c.MACsAfter,
		c.Speedup, len(c.Compensations), c.MaxDiff)
	if rep.CompactedAccuracy, err = pl.programAccuracy(res.Program, res.Values); err != nil {
		return nil, "", err
	}
	fmt.Fprintf(log, "test accuracy: dense %.2f%%, pruned %.2f%%, compacted %.2f%%\n", 100*pl.DenseAccuracy,
		100*pl.PrunedAccuracy, 100*rep.CompactedAccuracy)
	for _, batch := range o.TimeBatches {
		tp, err := TimeProgram(b, p, values, batch, o.TimeRuns)
		if err != nil {
			return nil, "", err
		}
		tc, err := TimeProgram(b, res.Program, res.Values, batch, o.TimeRuns)
		if err != nil {
			return nil, "", err
		}
		t := CompactTiming{Batch: batch, PrunedMs: ms(tp), CompactedMs: ms(tc), Speedup: float64(tp) / float64(tc)}
		if c.Speedup > 0 {
			t.Efficiency = t.Speedup / c.Speedup
		}
		rep.Timings = append(rep.Timings, t)
		fmt.Fprintf(log, "inference, batch %d: pruned %.3f ms, compacted %.3f ms: %.2fx faster (%.0f%% of the "+
			"theoretical %.2fx)\n", batch, t.PrunedMs, t.CompactedMs, t.Speedup, 100*t.Efficiency, c.Speedup)
	}
	dir := pl.runDir("compact", []any{joinInts(o.TimeBatches), o.TimeRuns})
	rep.File = filepath.Join(dir, ModelFile)
	st, err := WriteModel(rep.File, res.Program, res.Values, export.Options{Meta: export.Meta{
		"model": pl.Model.Name, "compacted": "true", "structure": pl.Options.Structure}})
	if err != nil {
		return nil, "", err
	}
	rep.FileSize = st.FileBytes
	rep.Finished = time.Now().UTC()
	return rep, dir, atomicfile.WriteJSON(filepath.Join(dir, ReportFile), rep)
}

// joinInts writes numbers as the CLI's list flags read them ("1,256"): the form hashed into compact
// and distill run directories' names.
func joinInts[T int | int64](xs []T) string {
	s := ""
	for i, n := range xs {
		if i > 0 {
			s += ","
		}
		s += fmt.Sprint(n)
	}
	return s
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// QuantizeOptions are the settings of [Quantize].
type QuantizeOptions struct {
	Pipeline PipelineOptions
	// Calib is the number of training images each channel's clipping is calibrated on (0: max-abs
	// scales only).
	Calib int
}

// QuantizeReport is report.json of a quantize run.
type QuantizeReport struct {
	Model           string                 `json:"model"`
	Backend         string                 `json:"backend"`
	Sparsity        float64                `json:"weight_sparsity"`
	PruneSteps      []string               `json:"prune_steps"`
	CalibImages     int                    `json:"calibration_images"`
	DenseAccuracy   float64                `json:"dense_test_accuracy"`
	PrunedAccuracy  float64                `json:"pruned_test_accuracy"`
	MaxAbsAccuracy  float64                `json:"int8_max_abs_test_accuracy"`
	Int8Accuracy    float64                `json:"int8_calibrated_test_accuracy"`
	Layers          []quantize.LayerReport `json:"layers"`
	QuantizeSeconds float64                `json:"quantize_seconds"`
	Finished        time.Time              `json:"finished"`
	// Result holds the quantized tensors (not written to report.json).
	Result *quantize.Result `json:"-"`
}

// Quantize prunes (as the pipeline says), then quantizes every weight matrix per output channel,
// symmetrically, to int8 (pruned weights stay zero), each channel's clipping calibrated on Calib
// training images; it measures the test accuracy in float32, with max-abs and with calibrated
// scales, and writes report.json into a quantize-MODEL-HASH run directory.
func Quantize(o QuantizeOptions) (*QuantizeReport, string, error) {
	if o.Calib < 0 {
		return nil, "", badOptionsf("-calib %d must be >= 0", o.Calib)
	}
	pl, err := NewPipeline(o.Pipeline)
	if err != nil {
		return nil, "", err
	}
	rep, err := pl.Quantize(o.Calib)
	if err != nil {
		return nil, "", err
	}
	dir := pl.runDir("quantize", o.Calib)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, "", err
	}
	rep.Finished = time.Now().UTC()
	return rep, dir, atomicfile.WriteJSON(filepath.Join(dir, ReportFile), rep)
}

// Quantize quantizes the pipeline's model, calibrated on calib training images, and measures the
// test accuracy with max-abs and calibrated scales.
func (pl *Pipeline) Quantize(calib int) (*QuantizeReport, error) {
	p, values, err := pl.Trace()
	if err != nil {
		return nil, err
	}
	b := pl.Session.Backend()
	q := &QuantizeReport{Model: pl.Model.Name, Backend: b.Name(), Sparsity: pl.Sparsity, PruneSteps: pl.PruneSteps,
		CalibImages: min(calib, pl.Data.Train.N), DenseAccuracy: pl.DenseAccuracy, PrunedAccuracy: pl.PrunedAccuracy}
	maxAbs, err := quantize.Calibrate(b, p, values, nil, quantize.Config{})
	if err != nil {
		return nil, err
	}
	if q.MaxAbsAccuracy, err = pl.programAccuracy(p, maxAbs.Dequantized(values)); err != nil {
		return nil, err
	}
	start := time.Now()
	q.Result = maxAbs
	if calib > 0 {
		x, err := distill.Inputs(pl.Data.Train, q.CalibImages, pl.Session.Config().Normalization)
		if err != nil {
			return nil, err
		}
		if q.Result, err = quantize.Calibrate(b, p, values, x, quantize.Config{Seed: uint64(pl.Options.Seed)}); err != nil {
			return nil, err
		}
	}
	q.QuantizeSeconds = time.Since(start).Seconds()
	if q.Int8Accuracy, err = pl.programAccuracy(p, q.Result.Dequantized(values)); err != nil {
		return nil, err
	}
	q.Layers = q.Result.Layers
	fmt.Fprintf(logger(pl.Options.Log), "INT8 (per-channel symmetric, calibrated on %d training images): test accuracy "+
		"%.2f%% (max-abs scales %.2f%%, float32 %.2f%%)\n", q.CalibImages, 100*q.Int8Accuracy, 100*q.MaxAbsAccuracy,
		100*pl.PrunedAccuracy)
	return q, nil
}

// ExportOptions are the settings of [Export].
type ExportOptions struct {
	Pipeline PipelineOptions
	// Int8 quantizes the weights to INT8, calibrated on Calib training images.
	Int8  bool
	Calib int
	// Time times batch-1 inference of the reloaded model (GoMLX dense vs the sparse Go kernels).
	Time bool
}

// ExportReport is report.json of an export run.
type ExportReport struct {
	Model            string                 `json:"model"`
	Backend          string                 `json:"backend"`
	Sparsity         float64                `json:"weight_sparsity"`
	PruneSteps       []string               `json:"prune_steps"`
	Int8             bool                   `json:"int8"`
	DenseAccuracy    float64                `json:"dense_test_accuracy"`
	PrunedAccuracy   float64                `json:"pruned_test_accuracy"`
	Int8Accuracy     float64                `json:"int8_test_accuracy,omitempty"`
	ReloadedAccuracy float64                `json:"reloaded_test_accuracy"`
	Sizes            *export.SizeReport     `json:"sizes"`
	File             string                 `json:"file"`
	FileBytes        int                    `json:"file_bytes"`
	Ratio            float64                `json:"ratio"`
	Tensors          []export.TensorStats   `json:"tensors"`
	Quantization     []quantize.LayerReport `json:"quantization,omitempty"`
	// Batch-1 inference of the reloaded model: GoMLX dense execution, the Go executor with the
	// kernels chosen by density, and what sparse.Auto picks; medians in microseconds.
	InferGoMLXUs  float64            `json:"infer_batch1_gomlx_us,omitempty"`
	InferSparseUs float64            `json:"infer_batch1_sparse_us,omitempty"`
	AutoChoice    string             `json:"infer_batch1_auto_choice,omitempty"`
	SparseLayers  []sparse.LayerInfo `json:"sparse_layers,omitempty"`
	Finished      time.Time          `json:"finished"`
}

// Export is the Deep Compression pipeline: prune (as the pipeline says), quantize to INT8, write
// the model in Prunelab's export format (docs/FORMAT.md) as model.plx, read it back and evaluate
// it, and time it; report.json in an export-MODEL-HASH run directory holds sizes and accuracies.
func Export(o ExportOptions) (*ExportReport, string, error) {
	pl, err := NewPipeline(o.Pipeline)
	if err != nil {
		return nil, "", err
	}
	log := logger(pl.Options.Log)
	p, values, err := pl.Trace()
	if err != nil {
		return nil, "", err
	}
	rep := &ExportReport{Model: pl.Model.Name, Backend: pl.Session.Backend().Name(), Sparsity: pl.Sparsity,
		PruneSteps: pl.PruneSteps, Int8: o.Int8, DenseAccuracy: pl.DenseAccuracy, PrunedAccuracy: pl.PrunedAccuracy}
	opts := export.Options{Meta: export.Meta{"model": pl.Model.Name, "dataset": pl.Options.Dataset,
		"pruned_test_accuracy": fmt.Sprintf("%.4f", pl.PrunedAccuracy)}}
	var qt map[string]*quantize.Tensor
	if o.Int8 {
		q, err := pl.Quantize(o.Calib)
		if err != nil {
			return nil, "", err
		}
		qt, opts.Quantized = q.Result.Tensors, q.Result.Tensors
		rep.Int8Accuracy, rep.Quantization = q.Int8Accuracy, q.Layers
		opts.Meta["int8_test_accuracy"] = fmt.Sprintf("%.4f", q.Int8Accuracy)
	}
	if rep.Sizes, err = export.Sizes(p, values, qt); err != nil {
		return nil, "", err
	}
	fmt.Fprint(log, rep.Sizes)

	dir := pl.runDir("export", []any{o.Int8, o.Calib})
	rep.File = filepath.Join(dir, ModelFile)
	st, err := WriteModel(rep.File, p, values, opts)
	if err != nil {
		return nil, "", err
	}
	rep.FileBytes, rep.Tensors = st.FileBytes, st.Tensors
	rep.Ratio = float64(st.DenseBytes) / float64(st.FileBytes)

	loaded, err := ReadModel(rep.File)
	if err != nil {
		return nil, "", fmt.Errorf("reading back: %w", err)
	}
	if rep.ReloadedAccuracy, err = pl.programAccuracy(loaded.Program, loaded.Values); err != nil {
		return nil, "", err
	}
	fmt.Fprintf(log, "wrote %s: %d bytes, %.1fx smaller than the %d-byte float32 model; reloaded: test accuracy "+
		"%.2f%% (dense %.2f%%, pruned %.2f%%)\n", rep.File, rep.FileBytes, rep.Ratio, st.DenseBytes,
		100*rep.ReloadedAccuracy, 100*pl.DenseAccuracy, 100*pl.PrunedAccuracy)
	if o.Time {
		if err := pl.timeSparse(loaded, rep); err != nil {
			return nil, "", err
		}
	}
	rep.Finished = time.Now().UTC()
	return rep, dir, atomicfile.WriteJSON(filepath.Join(dir, ReportFile), rep)
}

// WriteModel writes a program and its values as a model file in Prunelab's export format
// (docs/FORMAT.md), atomically: a reader sees the old file or the new one, never a part. It
// returns what was written (sizes per variable, the file's size).
func WriteModel(path string, p *program.Program, values map[string][]float32, opts export.Options) (*export.Stats, error) {
	var st *export.Stats
	err := atomicfile.Write(path, func(w io.Writer) error {
		var err error
		st, err = export.Write(w, p, values, opts)
		return err
	})
	return st, err
}

// ReadModel reads a model file in Prunelab's export format, checking its checksum; errors name
// the file.
func ReadModel(path string) (*export.Model, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m, err := export.Read(f, export.ReadOptions{})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// timeSparse times batch-1 inference of the reloaded model with GoMLX and with the sparse Go
// executor, and records what sparse.Auto chooses.
func (pl *Pipeline) timeSparse(m *export.Model, rep *ExportReport) error {
	log := logger(pl.Options.Log)
	ctx, err := m.NewContext()
	if err != nil {
		return err
	}
	gomlx, err := sparse.NewGoMLXRunner(pl.Session.Backend(), m.Program, ctx)
	if err != nil {
		return err
	}
	sm, err := sparse.Compile(m.Program, m.Values, sparse.Options{})
	if err != nil {
		fmt.Fprintf(log, "sparse Go executor: %v\n", err)
		return nil
	}
	rep.SparseLayers = sm.Layers()
	auto := &sparse.Auto{Candidates: []sparse.Candidate{{Name: "gomlx-dense", Runner: gomlx}, {Name: "go-sparse", Runner: sm}},
		Trials: 51}
	// The first test image, normalized.
	im, norm := pl.Data.Test, pl.Session.Config().Normalization
	x := make([]float32, 0, im.ImageSize())
	for j, p := range im.Image(0) {
		x = append(x, norm.Apply(p, j%im.Channels))
	}
	if _, err := auto.Run(slices.Clip(x), 1); err != nil {
		return err
	}
	name, medians, _ := auto.Choice(1)
	rep.AutoChoice = name
	rep.InferGoMLXUs = float64(medians[0].Nanoseconds()) / 1e3
	rep.InferSparseUs = float64(medians[1].Nanoseconds()) / 1e3
	fmt.Fprintf(log, "batch-1 inference: GoMLX dense %.0f µs, sparse Go kernels %.0f µs (%.1fx); auto picks %s\n",
		rep.InferGoMLXUs, rep.InferSparseUs, rep.InferGoMLXUs/rep.InferSparseUs, name)
	return nil
}

// DistillOptions are the settings of [Distill]. The zero value compares, for seeds 1, 2, 3, LeNet-300-100
// trained 3 epochs, pruned to 95% and fine-tuned 1 epoch with and without distillation at T=4,
// alpha=0.9.
type DistillOptions struct {
	// Model (default "lenet-300-100"), Dataset (default: the model's own), DataDir.
	Model, Dataset, DataDir string
	// Train is the teacher's training length (default "3ep"), FineTune each student's (default "1ep").
	Train, FineTune string
	// Seeds are the seeds compared (default 1, 2, 3, as package distill).
	Seeds []int64
	// Prune is the students' unstructured sparsity (global magnitude; default 0.95).
	Prune float64
	// Distill is the distillation (default T=4, alpha=0.9).
	Distill distill.Config
	// Validation, TrainLimit and TestLimit as in [DataOptions].
	Validation, TrainLimit, TestLimit int
	// Int8 also measures both students after INT8 quantization.
	Int8 bool
	// Out is the directory run directories go under (default "runs"); Log receives progress.
	Out string
	Log io.Writer
}

// Distill compares knowledge distillation with plain fine-tuning for a pruned model over seeds
// ([distill.Experiment]) and writes report.json into a distill-MODEL-HASH run directory.
func Distill(o DistillOptions) (*distill.Result, string, error) {
	if o.Model == "" {
		o.Model = "lenet-300-100"
	}
	if o.Train == "" {
		o.Train = "3ep"
	}
	if o.FineTune == "" {
		o.FineTune = "1ep"
	}
	if o.Seeds == nil {
		o.Seeds = []int64{1, 2, 3}
	}
	if o.Prune == 0 {
		o.Prune = 0.95
	}
	if o.Distill == (distill.Config{}) {
		o.Distill = distill.Config{Temperature: 4, Alpha: 0.9}
	}
	if o.Out == "" {
		o.Out = "runs"
	}
	log := logger(o.Log)
	m, err := imageModel(o.Model)
	if err != nil {
		return nil, "", err
	}
	if o.Dataset == "" {
		o.Dataset = m.Dataset
	}
	teacherLen, err := training.ParseLength(o.Train)
	if err != nil {
		return nil, "", badOptions(err)
	}
	ftLen, err := training.ParseLength(o.FineTune)
	if err != nil {
		return nil, "", badOptions(err)
	}
	if err := o.Distill.Validate(); err != nil || !(o.Prune > 0 && o.Prune < 1) || len(o.Seeds) == 0 {
		return nil, "", badOptionsf("need -prune in (0, 1), seeds, temperature > 0 and alpha in (0, 1] (%v)", err)
	}
	split, err := LoadData(DataOptions{Dataset: o.Dataset, Dir: o.DataDir, Validation: o.Validation,
		TrainLimit: o.TrainLimit, TestLimit: o.TestLimit, Seed: 1})
	if err != nil {
		return nil, "", err
	}
	fmt.Fprintf(log, "%s on %s: teacher %s, students pruned to %.0f%% and fine-tuned %s, T=%g, alpha=%g, seeds %v\n",
		m.Name, o.Dataset, teacherLen, 100*o.Prune, ftLen, o.Distill.Temperature, o.Distill.Alpha, o.Seeds)
	start := time.Now()
	res, err := distill.Experiment{Model: m, Train: split.Train, Test: split.Test, Sparsity: o.Prune,
		Prune: pruning.Config{Allocation: pruning.Global{}}, TeacherLength: teacherLen, FineTuneLength: ftLen,
		Seeds: o.Seeds, Distill: o.Distill, Quantize: o.Int8, Log: o.Log}.Run()
	if err != nil {
		return nil, "", err
	}
	fmt.Fprintf(log, "\nover %d seeds: teacher %s, pruned %s; fine-tuned %s, distilled %s", len(o.Seeds), res.Teacher,
		res.Pruned, res.FineTuned, res.Distilled)
	if res.DistilledInt8 != nil {
		fmt.Fprintf(log, "; INT8: fine-tuned %s, distilled %s", res.FineTunedInt8, res.DistilledInt8)
	}
	fmt.Fprintf(log, " (%.0f s)\n", time.Since(start).Seconds())
	// The fields, names and order of the CLI's flags before the options moved here, so that a run
	// keeps its directory name.
	key := struct {
		Model, Dataset, Data, Train, FineTune, Seeds, Out string
		Prune, Temperature, Alpha                         float64
		Validation, TrainLimit, TestLimit                 int
		Int8                                              bool
	}{o.Model, o.Dataset, o.DataDir, o.Train, o.FineTune, joinInts(o.Seeds), o.Out, o.Prune, o.Distill.Temperature,
		o.Distill.Alpha, o.Validation, o.TrainLimit, o.TestLimit, o.Int8}
	dir := filepath.Join(o.Out, fmt.Sprintf("distill-%s-%s", m.Name, Hash(key)))
	return res, dir, atomicfile.WriteJSON(filepath.Join(dir, ReportFile), res)
}
