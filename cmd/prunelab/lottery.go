package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/prunelab/prunelab/experiment"
	"github.com/prunelab/prunelab/lottery"
	"github.com/prunelab/prunelab/training"
)

func init() { commands["lottery"] = lotteryCommand }

var lotteryCommand = command{
	summary: "Lottery Ticket experiments: iterative magnitude pruning with rewinding and its controls",
	usage:   lotteryUsage,
	run:     runLottery,
}

const lotteryUsage = `prunelab lottery: find winning tickets (Frankle & Carbin 2019) by iterative magnitude pruning.

Each level trains the network, prunes a fraction of each layer's surviving weights by magnitude, and
rewinds the survivors to their initial values (or to iteration k: -rewind 1000it; or keeps them and
rewinds only the learning rate: -rewind lr). Controls train the same masks from a fresh random
initialization (reinit) or random masks with the same per-layer sparsities (random-mask).

The run directory is named by a hash of every setting that changes results, so rerunning the same
command resumes where it stopped (even after kill -9) and adding replicates or controls extends it.
Files: config.json, results.json/.csv, figures, replicate_N/level_L/<branch>/{mask.json,final.bin,metrics.json}.

Presets:
%s
Examples:
  prunelab lottery                                    # the quick preset (under 10 minutes on 2 cores)
  prunelab lottery -preset paper                      # the published setup (hours on a CPU)
  prunelab lottery -preset quick -rewind 500it -controls reinit,random-mask -replicates 3
  prunelab lottery -sweep sweep.json -list            # list a sweep's entries
  prunelab lottery -sweep sweep.json -index 4         # run entry 4 (e.g. $JOB_COMPLETION_INDEX)
`

func runLottery(args []string, stdout, stderr io.Writer) error {
	var presets strings.Builder
	for _, p := range lottery.Presets {
		fmt.Fprintf(&presets, "  %-6s %s\n", p.Name, p.Description)
	}
	usage := fmt.Sprintf(lotteryUsage, presets.String())
	fs := newFlagSet("lottery", usage, stderr)
	preset := fs.String("preset", "quick", "budget preset: smoke, quick or paper; the flags below override it")
	var (
		c                               lottery.Config
		iterations, controls            string
		replicates, only, index         int
		sweepFile, out, dataDir, runDir string
		list, progress, figures         bool
	)
	fs.StringVar(&c.Model, "model", "", "model (default: the preset's)")
	fs.StringVar(&c.Dataset, "dataset", "", "dataset (default: the model's)")
	fs.StringVar(&iterations, "iterations", "", `training per level, e.g. "50000it" or "5ep"`)
	fs.IntVar(&c.Batch, "batch", 0, "batch size")
	fs.StringVar(&c.Optimizer, "optimizer", "", "adam, sgd or momentum")
	fs.Float64Var(&c.LR, "lr", 0, "learning rate")
	fs.IntVar(&c.Validation, "validation", 0, "training images held out for the early-stopping iteration")
	fs.IntVar(&c.TrainLimit, "train-limit", 0, "use only this many training images (0: all)")
	fs.IntVar(&c.TestLimit, "test-limit", 0, "use only this many test images (0: all)")
	fs.IntVar(&c.EvalEvery, "eval-every", 0, "evaluate every N iterations (the paper: 100)")
	fs.IntVar(&c.Levels, "levels", 0, "pruning levels after the dense level 0")
	fs.Float64Var(&c.PruneRate, "prune-rate", 0, "fraction of each layer's surviving weights pruned per level")
	fs.Float64Var(&c.OutputPruneRate, "output-prune-rate", 0, "the same for the output layer")
	fs.StringVar(&c.Scope, "scope", "", "layerwise or global")
	fs.StringVar(&c.Rewind, "rewind", "", `"init", an iteration such as "1000it", or "lr" (learning-rate rewinding)`)
	fs.Int64Var(&c.Seed, "seed", 0, "seed of replicate 1")
	fs.IntVar(&replicates, "replicates", 0, "number of replicates (seeds seed, seed+1, ...)")
	fs.IntVar(&only, "replicate", 0, "run only this replicate")
	fs.StringVar(&controls, "controls", "", `controls: "reinit", "random-mask", both comma-separated, or "none"`)
	fs.StringVar(&sweepFile, "sweep", "", "a sweep file (JSON, see docs/SWEEPS.md): with -index runs one entry, with -list lists them")
	fs.IntVar(&index, "index", -1, "the sweep entry to run")
	fs.BoolVar(&list, "list", false, "list the sweep's entries and exit")
	fs.StringVar(&out, "out", "runs", "directory under which the run directory is created")
	fs.StringVar(&runDir, "dir", "", "the run directory itself (to resume one made elsewhere; must hold the same settings)")
	fs.StringVar(&dataDir, "data", "", "directory holding the dataset files")
	fs.BoolVar(&progress, "progress", false, "show a progress bar for each level's training (terminal only)")
	fs.BoolVar(&figures, "figures", true, "write figures (SVG and PNG) into the run directory")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	var e lottery.Experiment
	if sweepFile != "" {
		if !list && !set["index"] {
			return usageError{fmt.Errorf("-sweep needs -index I (or -list)")}
		}
		s, err := lottery.LoadSweep(sweepFile)
		if err != nil {
			return usageError{err}
		}
		if list {
			entries, err := s.Entries()
			if err != nil {
				return usageError{err}
			}
			for _, en := range entries {
				fmt.Fprintf(stdout, "%3d  %s  (run directory lottery-%s)\n", en.Index, en.Label, en.Experiment.Config.Hash())
			}
			return nil
		}
		en, err := s.Entry(index)
		if err != nil {
			return usageError{err}
		}
		e = en.Experiment
		fmt.Fprintf(stdout, "sweep %s entry %d: %s\n", sweepFile, index, en.Label)
	} else {
		p, err := lottery.PresetByName(*preset)
		if err != nil {
			return usageError{err}
		}
		e = lottery.Experiment{Config: p.Config, Replicates: p.Replicates, Controls: p.Controls}
		if err := overrideConfig(&e, c, iterations, controls, replicates, only, set); err != nil {
			return usageError{err}
		}
	}
	e.Out, e.Dir, e.DataDir, e.Log, e.Progress = out, runDir, dataDir, stdout, progress
	if err := e.Config.Validate(); err != nil {
		return usageError{err}
	}
	fmt.Fprintf(stdout, "prunelab lottery: %s, %s per level, %d levels, rewind %s, %d replicate(s), controls %v\n",
		e.Config.Model, e.Config.Iterations, e.Config.Levels, e.Config.Rewind, max(e.Replicates, 1), e.Controls)
	fmt.Fprintf(stdout, "run directory: %s\n", e.RunDir())
	start := time.Now()
	sum, written, err := experiment.Lottery(&e, figures)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\n%s\n", sum.Table())
	if figures {
		fmt.Fprintf(stdout, "Figures: %s\n", strings.Join(written, ", "))
	}
	fmt.Fprintf(stdout, "Done in %s. Results: %s/{%s,%s}\n", time.Since(start).Round(time.Second), e.RunDir(),
		lottery.ResultsJSON, lottery.ResultsCSV)
	return nil
}

// overrideConfig applies the flags that were set on top of a preset.
func overrideConfig(e *lottery.Experiment, c lottery.Config, iterations, controls string, replicates, only int, set map[string]bool) error {
	dst := &e.Config
	if set["model"] {
		dst.Model = c.Model
		dst.Dataset = "" // the model's own unless -dataset says otherwise
	}
	if set["dataset"] {
		dst.Dataset = c.Dataset
	}
	if set["iterations"] {
		l, err := training.ParseLength(iterations)
		if err != nil {
			return err
		}
		dst.Iterations = l
	}
	ints := map[string]*int{"batch": &dst.Batch, "validation": &dst.Validation, "train-limit": &dst.TrainLimit,
		"test-limit": &dst.TestLimit, "eval-every": &dst.EvalEvery, "levels": &dst.Levels}
	from := map[string]int{"batch": c.Batch, "validation": c.Validation, "train-limit": c.TrainLimit,
		"test-limit": c.TestLimit, "eval-every": c.EvalEvery, "levels": c.Levels}
	for name, p := range ints {
		if set[name] {
			*p = from[name]
		}
	}
	if set["optimizer"] {
		dst.Optimizer = c.Optimizer
	}
	if set["lr"] {
		dst.LR = c.LR
	}
	if set["prune-rate"] {
		dst.PruneRate = c.PruneRate
	}
	if set["output-prune-rate"] {
		dst.OutputPruneRate = c.OutputPruneRate
	}
	if set["scope"] {
		dst.Scope = c.Scope
	}
	if set["rewind"] {
		dst.Rewind = c.Rewind
	}
	if set["seed"] {
		dst.Seed = c.Seed
	}
	if set["replicates"] {
		e.Replicates = replicates
	}
	if set["replicate"] {
		e.Only = only
		e.Replicates = max(e.Replicates, only)
	}
	if set["controls"] {
		cs, err := lottery.ParseControls(controls)
		if err != nil {
			return err
		}
		e.Controls = cs
	}
	return nil
}
