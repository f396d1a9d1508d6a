package main

import (
	"fmt"
	"io"

	"github.com/prunelab/prunelab/experiment"
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

func runQuantize(args []string, stdout, stderr io.Writer) error {
	var o experiment.QuantizeOptions
	fs := newFlagSet("quantize", quantizeUsage, stderr)
	registerPipeline(fs, &o.Pipeline, pipelineDefaults{prune: 0.9, structure: "unstructured", finetune: "1ep", rounds: 1})
	fs.IntVar(&o.Calib, "calib", 1024, "training images the clipping is calibrated on (0: max-abs scales only)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	o.Pipeline.Log = stdout
	_, dir, err := experiment.Quantize(o)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Files: %s/ (report.json)\n", dir)
	return nil
}
