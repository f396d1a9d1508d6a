// Command prunelab runs Prunelab's experiments headless: each command parses its flags, calls one
// flow of package experiment (the functions the notebooks call) and prints the result.
//
//	prunelab lottery [flags]   Lottery Ticket experiments (the README's main job)
//	prunelab train [flags]     train a model from the registry and report its test accuracy
//	prunelab prune [flags]     prune with any schedule, criterion, scope and structure, fine-tune, report
//	prunelab sensitivity       per-layer sensitivity analysis and the per-layer amounts it yields
//	prunelab compact           prune channels and physically remove them (a smaller, faster model)
//	prunelab quantize          INT8 quantization of a pruned model
//	prunelab distill           distillation against plain fine-tuning of a pruned student
//	prunelab lm train|oneshot  byte-level language models: train gpt-tiny, prune it in one shot
//	prunelab export            a compressed model file (sparse, INT8, checksummed)
//	prunelab inspect FILE      read a model file: its layers, sparsity, sizes, checksum and accuracy
//	prunelab report DIR...     a self-contained HTML page of run directories
//	prunelab backend           which backend runs; install the XLA plugin
//	prunelab help COMMAND      explain a command and its flags
//
// Run "prunelab help" for the list of commands.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/prunelab/prunelab/experiment"
)

// command is one subcommand of the CLI.
type command struct {
	summary string
	// usage is printed by "help": what the command does, an example, then its flags.
	usage string
	run   func(args []string, stdout, stderr io.Writer) error
}

// commands holds every subcommand; each command's file adds itself in an init function.
var commands = map[string]command{}

const overview = `prunelab: neural-network pruning research on GoMLX.

Usage:
  prunelab COMMAND [flags]

Commands:
%s
Run "prunelab help COMMAND" (or "prunelab COMMAND -h") to see what a command does and its flags.

Data is found in -data DIR or $PRUNELAB_DATA, then the cache (~/.cache/prunelab), then Debian's
dataset-fashion-mnist files and MNIST's Go module (through the Go toolchain), then HTTPS downloads.
The backend is XLA when its PJRT plugin is installed (or auto-installs), else pure Go; GOMLX_BACKEND
overrides (e.g. GOMLX_BACKEND=go).
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the command line and returns the process exit code: 0 on success, 2 on a usage error,
// 1 when the command fails.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" && len(args) == 1 {
		printOverview(stdout)
		return 0
	}
	name := args[0]
	if name == "help" {
		name = args[1]
		args = []string{name, "-h"}
	}
	cmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(stderr, "prunelab: unknown command %q\n\n", name)
		printOverview(stderr)
		return 2
	}
	if err := cmd.run(args[1:], stdout, stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		var u usageError
		if errors.As(err, &u) || errors.Is(err, experiment.ErrOptions) {
			fmt.Fprintf(stderr, "prunelab %s: %v\n", name, err)
			return 2
		}
		fmt.Fprintf(stderr, "prunelab %s: %v\n", name, err)
		return 1
	}
	return 0
}

func printOverview(w io.Writer) {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	list := ""
	for _, n := range names {
		list += fmt.Sprintf("  %-12s %s\n", n, commands[n].summary)
	}
	fmt.Fprintf(w, overview, list)
}

// usageError marks a bad command line (exit code 2) as opposed to a failed run (exit code 1).
type usageError struct{ error }

// newFlagSet makes a flag set whose -h prints the command's usage text then its flags.
func newFlagSet(name, usage string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("prunelab "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fmt.Fprintln(fs.Output(), "\nFlags:")
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args, turning flag errors into usage errors (the flag package already printed them).
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected arguments %q", fs.Args())}
	}
	return nil
}
