package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/prunelab/prunelab/export"
	"github.com/prunelab/prunelab/internal/atomicfile"
	"github.com/prunelab/prunelab/quantize"
	"github.com/prunelab/prunelab/sparse"
)

func init() { commands["export"] = exportCommand }

var exportCommand = command{
	summary: "prune, quantize and write a compressed model file; report sizes and accuracy",
	usage:   exportUsage,
	run:     runExport,
}

const exportUsage = `prunelab export: the Deep Compression pipeline, prune → INT8 → compressed file.

The dense model is trained (or read with -from), pruned in rounds with fine-tuning (default: to 95% of
the weights, global magnitude, 4 rounds), its weights quantized to INT8 (per channel, calibrated on
training images), and written in Prunelab's export format (docs/FORMAT.md): sparse tensors as bitmaps
or index gaps, int8 values with per-channel scales, DEFLATE, SHA-256. The file is read back and
evaluated. report.json holds the sizes (float32 model, dense file, sparse, sparse + INT8, with and
without DEFLATE, and the ratios), the accuracies (dense, pruned, INT8, reloaded file), and the batch-1
inference time of the reloaded model with GoMLX's dense execution and with the sparse Go kernels.

Examples:
  prunelab export                                  # LeNet-300-100 to 95%, INT8, model.plx
  prunelab export -prune 0.9 -rounds 3 -int8=false
`

// exportReport is report.json of "prunelab export".
type exportReport struct {
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

func runExport(args []string, stdout, stderr io.Writer) error {
	var f pipelineFlags
	var calib int
	var int8, timing bool
	fs := newFlagSet("export", exportUsage, stderr)
	f.register(fs, pipelineDefaults{prune: 0.95, structure: "unstructured", finetune: "1ep", rounds: 4})
	fs.BoolVar(&int8, "int8", true, "quantize the weights to INT8")
	fs.IntVar(&calib, "calib", 1024, "training images the INT8 clipping is calibrated on")
	fs.BoolVar(&timing, "time", true, "time batch-1 inference of the reloaded model (GoMLX dense vs sparse Go kernels)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	pl, err := newPipeline(f, stdout)
	if err != nil {
		return err
	}
	p, values, err := pl.trace()
	if err != nil {
		return err
	}
	rep := exportReport{Model: pl.model.Name, Backend: pl.sess.Backend().Name(), Sparsity: pl.Sparsity,
		PruneSteps: pl.PruneSteps, Int8: int8, DenseAccuracy: pl.DenseAcc, PrunedAccuracy: pl.PrunedAcc}
	opts := export.Options{Meta: export.Meta{"model": pl.model.Name, "dataset": pl.f.Dataset,
		"pruned_test_accuracy": fmt.Sprintf("%.4f", pl.PrunedAcc)}}
	var qt map[string]*quantize.Tensor
	if int8 {
		q, err := quantizeModel(pl, calib, stdout)
		if err != nil {
			return err
		}
		qt, opts.Quantized = q.result.Tensors, q.result.Tensors
		rep.Int8Accuracy, rep.Quantization = q.Int8Accuracy, q.Layers
		opts.Meta["int8_test_accuracy"] = fmt.Sprintf("%.4f", q.Int8Accuracy)
	}
	if rep.Sizes, err = export.Sizes(p, values, qt); err != nil {
		return err
	}
	fmt.Fprint(stdout, rep.Sizes)

	dir := pl.runDir("export", []any{int8, calib})
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	rep.File = filepath.Join(dir, "model.plx")
	var buf bytes.Buffer
	st, err := export.Write(&buf, p, values, opts)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(rep.File, buf.Bytes()); err != nil {
		return err
	}
	rep.FileBytes, rep.Tensors = st.FileBytes, st.Tensors
	rep.Ratio = float64(st.DenseBytes) / float64(st.FileBytes)

	// Read the file back and evaluate what it holds.
	fh, err := os.Open(rep.File)
	if err != nil {
		return err
	}
	loaded, err := export.Read(fh, export.ReadOptions{})
	fh.Close()
	if err != nil {
		return fmt.Errorf("reading back %s: %w", rep.File, err)
	}
	if rep.ReloadedAccuracy, err = programAccuracy(pl, loaded.Program, loaded.Values, pl.split.test); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s: %d bytes, %.1fx smaller than the %d-byte float32 model; reloaded: test accuracy "+
		"%.2f%% (dense %.2f%%, pruned %.2f%%)\n", rep.File, rep.FileBytes, rep.Ratio, st.DenseBytes,
		100*rep.ReloadedAccuracy, 100*pl.DenseAcc, 100*pl.PrunedAcc)
	if timing {
		if err := timeSparse(pl, loaded, &rep, stdout); err != nil {
			return err
		}
	}
	rep.Finished = time.Now().UTC()
	if err := atomicfile.WriteJSON(filepath.Join(dir, "report.json"), rep); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Files: %s/ (model.plx, report.json)\n", dir)
	return nil
}

// timeSparse times batch-1 inference of the reloaded model with GoMLX and with the sparse Go
// executor, and records what sparse.Auto chooses.
func timeSparse(pl *pipeline, m *export.Model, rep *exportReport, stdout io.Writer) error {
	ctx, err := m.NewContext()
	if err != nil {
		return err
	}
	gomlx, err := sparse.NewGoMLXRunner(pl.sess.Backend(), m.Program, ctx)
	if err != nil {
		return err
	}
	sm, err := sparse.Compile(m.Program, m.Values, sparse.Options{})
	if err != nil {
		fmt.Fprintf(stdout, "sparse Go executor: %v\n", err)
		return nil
	}
	rep.SparseLayers = sm.Layers()
	auto := &sparse.Auto{Candidates: []sparse.Candidate{{Name: "gomlx-dense", Runner: gomlx}, {Name: "go-sparse", Runner: sm}},
		Trials: 51}
	x, err := firstImages(pl, 1)
	if err != nil {
		return err
	}
	if _, err := auto.Run(x, 1); err != nil {
		return err
	}
	name, medians, _ := auto.Choice(1)
	rep.AutoChoice = name
	rep.InferGoMLXUs = float64(medians[0].Nanoseconds()) / 1e3
	rep.InferSparseUs = float64(medians[1].Nanoseconds()) / 1e3
	fmt.Fprintf(stdout, "batch-1 inference: GoMLX dense %.0f µs, sparse Go kernels %.0f µs (%.1fx); auto picks %s\n",
		rep.InferGoMLXUs, rep.InferSparseUs, rep.InferGoMLXUs/rep.InferSparseUs, name)
	return nil
}

// firstImages returns the first n test images as normalized float32 values.
func firstImages(pl *pipeline, n int) ([]float32, error) {
	im := pl.split.test
	norm := pl.sess.Config().Normalization
	s := im.ImageSize()
	x := make([]float32, 0, n*s)
	for i := range n {
		for j, p := range im.Image(i) {
			x = append(x, norm.Apply(p, j%im.Channels))
		}
	}
	return slices.Clip(x), nil
}
