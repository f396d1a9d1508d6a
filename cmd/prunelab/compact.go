package main

import (
	"fmt"
	"io"

	"github.com/prunelab/prunelab/experiment"
)

func init() { commands["compact"] = compactCommand }

var compactCommand = command{
	summary: "prune channels and physically remove them: a smaller, faster model",
	usage:   compactUsage,
	run:     runCompact,
}

const compactUsage = `prunelab compact: prune whole channels (neurons, filters, attention heads), then remove them for real.

The dense model is trained (or read from a "prunelab train" run with -from), pruned structurally, and
compacted: every channel whose weights are all zero is removed together with everything coupled to it
in the model's graph (biases, batch-norm entries, the next layers' inputs, the other layers of a
residual stream; a transformer's heads whole: their q, k, v columns, gate and output-projection rows). The compacted model computes what the pruned one does (verified on a random batch),
with fewer parameters and multiply-accumulates. The run directory holds model.plx (the compacted model
in the export format, docs/FORMAT.md) and report.json: accuracy before and after, parameter and MAC
counts, and measured inference times of the pruned and compacted models at batch 1 and 256, both run
as an inference compiler would run them (program.Fold: input-independent work computed once).

With -onnx FILE the model is an ONNX file instead (from torch.onnx.export, say): -prune of the
coupled channels of every family (residual streams together) are pruned with their biases, removed,
and the smaller model is written as ONNX (-o; checked by importing it again), with -masked-out the
masked one too. -input-shape gives the example shape to trace at when the input has dynamic
dimensions; the compacted file runs at any size the original does.

Examples:
  prunelab compact                                        # LeNet-300-100, 50% of channels, groups
  prunelab compact -onnx resnet18.onnx -prune 0.3 -input-shape 3,64,64 -o resnet18-30.onnx
  prunelab compact -model lenet-5 -prune 0.7 -finetune 1ep
  prunelab compact -model vit-tiny -prune 0.5 -finetune 1ep   # half the heads and MLP neurons of each block
  prunelab compact -from runs/train-lenet-300-100-1a2b3c4d5e -structure out_channels
`

func runCompact(args []string, stdout, stderr io.Writer) error {
	var o experiment.CompactOptions
	fs := newFlagSet("compact", compactUsage, stderr)
	registerPipeline(fs, &o.Pipeline, pipelineDefaults{prune: 0.5, structure: "groups", finetune: "0it", rounds: 1})
	batches := fs.String("time-batches", "1,256", "batch sizes to time inference at (empty: no timing)")
	fs.IntVar(&o.TimeRuns, "time-runs", 10, "timed runs per batch size (the median is reported)")
	var on experiment.CompactONNXOptions
	fs.StringVar(&on.File, "onnx", "", "compact this ONNX model instead (see above); the training flags are ignored")
	inputShape := fs.String("input-shape", "", "with -onnx: example shape to trace at, without the batch (e.g. 3,64,64)")
	fs.StringVar(&on.Out, "o", "", "with -onnx: the compacted ONNX file to write (default FILE-compactNN.onnx)")
	fs.StringVar(&on.MaskedOut, "masked-out", "", "with -onnx: also write the masked model (same graph, zeros) there")
	fs.IntVar(&on.RoundTo, "round-to", 1, "with -onnx: keep a multiple of this many channels per family (8 suits ONNX Runtime)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	var err error
	if on.File != "" {
		if on.InputShape, err = parseInts(*inputShape); err != nil {
			return usageError{fmt.Errorf("-input-shape: %w", err)}
		}
		on.Sparsity, on.Log = o.Pipeline.Prune, stdout
		res, err := experiment.CompactONNX(on)
		if err != nil {
			return err
		}
		res.WriteSummary(stdout)
		return nil
	}
	if o.TimeBatches, err = parseInts(*batches); err != nil {
		return usageError{fmt.Errorf("-time-batches: %w", err)}
	}
	o.Pipeline.Log = stdout
	rep, dir, err := experiment.Compact(o)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Files: %s/ (model.plx %d bytes, report.json)\n", dir, rep.FileSize)
	return nil
}
