package main

import (
	"fmt"
	"io"

	"github.com/prunelab/prunelab/experiment"
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

func runExport(args []string, stdout, stderr io.Writer) error {
	var o experiment.ExportOptions
	fs := newFlagSet("export", exportUsage, stderr)
	registerPipeline(fs, &o.Pipeline, pipelineDefaults{prune: 0.95, structure: "unstructured", finetune: "1ep", rounds: 4})
	fs.BoolVar(&o.Int8, "int8", true, "quantize the weights to INT8")
	fs.IntVar(&o.Calib, "calib", 1024, "training images the INT8 clipping is calibrated on")
	fs.BoolVar(&o.Time, "time", true, "time batch-1 inference of the reloaded model (GoMLX dense vs sparse Go kernels)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	o.Pipeline.Log = stdout
	_, dir, err := experiment.Export(o)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Files: %s/ (model.plx, report.json)\n", dir)
	return nil
}
