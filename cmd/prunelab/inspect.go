package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/prunelab/prunelab/experiment"
)

func init() { commands["inspect"] = inspectCommand }

var inspectCommand = command{
	summary: "read a model file: its layers, sparsity, sizes, checksum, and its test accuracy",
	usage:   inspectUsage,
	run:     runInspect,
}

const inspectUsage = `prunelab inspect FILE: read a model file that export, compact or export.Write wrote (docs/FORMAT.md).

It checks the file's SHA-256, prints its metadata, every variable (shape, non-zeros, how it is stored),
the parameter and multiply-accumulate counts, and evaluates the model on the test set of its data set
(the file's "dataset" metadata, else its model's own). A truncated or tampered file is an error
naming the file; the exit status is then 1.

Examples:
  prunelab inspect runs/export-lenet-300-100-1a2b3c4d5e/model.plx
  prunelab inspect -test-limit 1000 -dataset fashion-mnist model.plx
`

func runInspect(args []string, stdout, stderr io.Writer) error {
	var o experiment.InspectOptions
	fs := newFlagSet("inspect", inspectUsage, stderr)
	fs.StringVar(&o.Dataset, "dataset", "", "data set to evaluate on (default: the file's, else its model's own)")
	fs.StringVar(&o.DataDir, "data", "", "directory holding the dataset files")
	fs.IntVar(&o.TestLimit, "test-limit", 0, "evaluate on the first N test images only (0: all)")
	fs.BoolVar(&o.SkipEval, "no-eval", false, "only read and describe the file")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() != 1 {
		return usageError{fmt.Errorf("give one model file, got %d arguments", fs.NArg())}
	}
	in, err := experiment.Inspect(fs.Arg(0), o)
	if err != nil {
		return err
	}
	in.WriteSummary(stdout)
	return nil
}
