package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/prunelab/prunelab/distill"
	"github.com/prunelab/prunelab/internal/atomicfile"
	"github.com/prunelab/prunelab/quantize"
)

func init() { commands["quantize"] = quantizeCommand }

var quantizeCommand = command{
	summary: "prune, then quantize the remaining weights to INT8 and measure the accuracy",
	usage:   quantizeUsage,
	run:     runQuantize,
}

const quantizeUsage = `prunelab quantize: post-training INT8 quantization of a pruned model's weights.

The dense model is trained (or read with -from), pruned and fine-tuned, then every weight matrix is
quantized per output channel, symmetrically, to int8 (pruned weights stay exactly zero), with each
channel's clipping range chosen to minimize the layer's output error on -calib training images. Test
accuracy is measured in float32, after max-abs INT8 and after calibrated INT8. report.json holds the
accuracies and, per layer, the clipping and output errors.

Examples:
  prunelab quantize                                   # LeNet-300-100 pruned to 90%, INT8
  prunelab quantize -prune 0.95 -rounds 4 -finetune 1ep
  prunelab quantize -prune 0 -calib 2048              # the dense model
`

// quantizeReport is report.json of "prunelab quantize".
type quantizeReport struct {
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
}

func runQuantize(args []string, stdout, stderr io.Writer) error {
	var f pipelineFlags
	var calib int
	fs := newFlagSet("quantize", quantizeUsage, stderr)
	f.register(fs, pipelineDefaults{prune: 0.9, structure: "unstructured", finetune: "1ep", rounds: 1})
	fs.IntVar(&calib, "calib", 1024, "training images the clipping is calibrated on (0: max-abs scales only)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if calib < 0 {
		return usageError{fmt.Errorf("-calib %d must be >= 0", calib)}
	}
	pl, err := newPipeline(f, stdout)
	if err != nil {
		return err
	}
	rep, err := quantizeModel(pl, calib, stdout)
	if err != nil {
		return err
	}
	dir := pl.runDir("quantize", calib)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	rep.Finished = time.Now().UTC()
	if err := atomicfile.WriteJSON(filepath.Join(dir, "report.json"), rep.quantizeReport); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Files: %s/ (report.json)\n", dir)
	return nil
}

// quantized is a pruned model's quantization, with the report.
type quantized struct {
	quantizeReport
	result *quantize.Result
}

// quantizeModel quantizes the pipeline's model, calibrated on calib training images, and measures
// the test accuracy with max-abs and calibrated scales.
func quantizeModel(pl *pipeline, calib int, stdout io.Writer) (*quantized, error) {
	p, values, err := pl.trace()
	if err != nil {
		return nil, err
	}
	q := &quantized{quantizeReport: quantizeReport{Model: pl.model.Name, Backend: pl.sess.Backend().Name(),
		Sparsity: pl.Sparsity, PruneSteps: pl.PruneSteps, CalibImages: min(calib, pl.split.train.N),
		DenseAccuracy: pl.DenseAcc, PrunedAccuracy: pl.PrunedAcc}}
	maxAbs, err := quantize.Calibrate(pl.sess.Backend(), p, values, nil, quantize.Config{})
	if err != nil {
		return nil, err
	}
	if q.MaxAbsAccuracy, err = programAccuracy(pl, p, maxAbs.Dequantized(values), pl.split.test); err != nil {
		return nil, err
	}
	start := time.Now()
	q.result = maxAbs
	if calib > 0 {
		x, err := distill.Inputs(pl.split.train, q.CalibImages, pl.sess.Config().Normalization)
		if err != nil {
			return nil, err
		}
		if q.result, err = quantize.Calibrate(pl.sess.Backend(), p, values, x, quantize.Config{Seed: uint64(pl.f.Seed)}); err != nil {
			return nil, err
		}
	}
	q.QuantizeSeconds = time.Since(start).Seconds()
	if q.Int8Accuracy, err = programAccuracy(pl, p, q.result.Dequantized(values), pl.split.test); err != nil {
		return nil, err
	}
	q.Layers = q.result.Layers
	fmt.Fprintf(stdout, "INT8 (per-channel symmetric, calibrated on %d training images): test accuracy %.2f%% "+
		"(max-abs scales %.2f%%, float32 %.2f%%)\n", q.CalibImages, 100*q.Int8Accuracy, 100*q.MaxAbsAccuracy, 100*pl.PrunedAcc)
	return q, nil
}
