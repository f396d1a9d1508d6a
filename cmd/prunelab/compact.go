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

const compactUsage = `prunelab compact: prune whole channels (neurons, filters), then remove them for real.

The dense model is trained (or read from a "prunelab train" run with -from), pruned structurally, and
compacted: every channel whose weights are all zero is removed together with everything coupled to it
in the model's graph (biases, batch-norm entries, the next layers' inputs, the other layers of a
residual stream). The compacted model computes what the pruned one does (verified on a random batch),
with fewer parameters and multiply-accumulates. The run directory holds model.plx (the compacted model
in the export format, docs/FORMAT.md) and report.json: accuracy before and after, parameter and MAC
counts, and measured inference times of the pruned and compacted models at batch 1 and 256, both run
as an inference compiler would run them (program.Fold: input-independent work computed once).

Examples:
  prunelab compact                                        # LeNet-300-100, 50% of channels, groups
  prunelab compact -model lenet-5 -prune 0.7 -finetune 1ep
  prunelab compact -from runs/train-lenet-300-100-1a2b3c4d5e -structure out_channels
`

func runCompact(args []string, stdout, stderr io.Writer) error {
	var o experiment.CompactOptions
	fs := newFlagSet("compact", compactUsage, stderr)
	registerPipeline(fs, &o.Pipeline, pipelineDefaults{prune: 0.5, structure: "groups", finetune: "0it", rounds: 1})
	batches := fs.String("time-batches", "1,256", "batch sizes to time inference at (empty: no timing)")
	fs.IntVar(&o.TimeRuns, "time-runs", 10, "timed runs per batch size (the median is reported)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	var err error
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
