package main

import (
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/prunelab/prunelab/experiment"
	"github.com/prunelab/prunelab/oneshot"
)

func init() { commands["lm"] = lmCommand }

var lmCommand = command{
	summary: "byte-level language models (gpt-tiny): train, prune in one shot (magnitude, Wanda, SparseGPT), prune heads or blocks",
	usage:   lmUsage,
	run:     runLM,
}

const lmUsage = `prunelab lm: byte-level language models (gpt-tiny) on the Go source tree or WikiText-2.

Subcommands:
  prunelab lm train [flags]     train a model, report its test bits/byte and perplexity beside the
                                unigram baseline; the run directory holds model.plx, reused by oneshot
  prunelab lm oneshot [flags]   prune the trained model in one shot with each method, at unstructured
                                sparsities and N:M patterns, over calibration seeds; report test
                                perplexity mean ± std and draw perplexity against sparsity
  prunelab lm prune [flags]     prune attention heads or whole blocks of the trained model (Taylor
                                importance, one shot or gradually), fine-tune it, remove them physically

Run "prunelab lm SUBCOMMAND -h" for a subcommand's flags.
`

const lmTrainUsage = `prunelab lm train: train a byte-level language model and evaluate it.

gpt-tiny (context 64, width 64, 4 heads, 2 blocks; 137,216 parameters) learns to predict the next byte of
the Go distribution's source tree (-corpus go: the .go files of $(go env GOROOT)/src, split by file
into train, validation and test) or of WikiText-2 raw (-corpus DIR). Adam with a linear warm-up and a
cosine to a tenth of -lr. The test bits per byte and perplexity (first -test-bytes bytes of the test
split) are printed beside the unigram baseline's on the same bytes. The run directory is named by a
hash of every setting that changes the weights; it holds config.json, history.json/.csv, model.plx
(the model in Prunelab's file format; "prunelab inspect -no-eval" describes it) and result.json. The
same command finds the finished run instead of training again.

Examples:
  prunelab lm train                                   # 1000 steps on Go source, about 3 minutes on 2 cores
  prunelab lm train -steps 2000 -eval-every 250
  prunelab lm train -corpus ~/data/wikitext-2-raw -steps 3000
`

const lmOneShotUsage = `prunelab lm oneshot: prune a trained language model in one shot, without retraining.

The dense model is the run "prunelab lm train" writes with the same training flags (trained first when
it is not there). Every linear layer of its blocks (not the embedding, not the head: -skip) is pruned in
order, each from the statistics of its inputs on -calibration windows of the training split passed
through the layers before it, already pruned: by magnitude (per output, or over the whole layer with
magnitude-layer, the papers' baseline), Wanda (Sun et al. 2023:
|W|·‖X‖ per output) or SparseGPT (Frantar & Alistarh 2023: optimal-brain-surgeon reconstruction). Each
method runs at every -sparsities level and -nm pattern, once per calibration seed (1 to -seeds;
the magnitude methods read no calibration data and are pruned once). The run directory holds config.json,
results.json, results.csv (test perplexity mean ± std per method and pattern, beside the dense model and
the unigram baseline), perplexity_vs_sparsity.svg/.png and points/ (a killed run resumes from them).

Examples:
  prunelab lm oneshot                                 # the defaults below: 4 methods × 4 patterns × 3 seeds
  prunelab lm oneshot -methods magnitude,magnitude-layer,wanda,sparsegpt -sparsities 0.3,0.5,0.7 -nm 2:4 -seeds 3
  prunelab lm oneshot -sparsities 0.5,0.6,0.7,0.8,0.9 -nm "" -methods sparsegpt -seeds 5
`

const lmPruneUsage = `prunelab lm prune: prune attention heads or whole blocks of a trained language model, with fine-tuning.

The dense model is the run "prunelab lm train" writes with the same training flags (trained first when
it is not there). Heads (-structure heads) or blocks (-structure blocks) are switched off through their
gates, which do not train, so a pruned unit stays out while the rest fine-tunes. They are ranked by
Taylor importance (-criterion taylor: |∂L/∂gate| over -gradient-batches training batches, Michel et al.
2019, global across blocks) or at random (the control), and pruned at once (-schedule oneshot) or
gradually (-schedule polynomial, from -begin to -end every -frequency steps). Every block keeps a head,
and a block stays. After -finetune steps the pruned units are removed physically, and the smaller model
must score what the masked one does. The run directory holds config.json, result.json and model.plx
(the compacted model).

Examples:
  prunelab lm prune                                         # half the heads at once, 200 steps of fine-tuning
  prunelab lm prune -structure heads -sparsity 0.75 -schedule polynomial -finetune 400
  prunelab lm prune -structure blocks -sparsity 0.5 -criterion random
`

// runLM dispatches to the subcommand named by args[0].
func runLM(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, lmUsage)
		return usageError{fmt.Errorf("missing subcommand: train, oneshot or prune")}
	}
	switch args[0] {
	case "train":
		return runLMTrain(args[1:], stdout, stderr)
	case "oneshot":
		return runLMOneShot(args[1:], stdout, stderr)
	case "prune":
		return runLMPrune(args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stderr, lmUsage)
		return flag.ErrHelp
	}
	return usageError{fmt.Errorf("unknown subcommand %q: want train, oneshot or prune (prunelab lm -h)", args[0])}
}

// registerLMTrain adds the flags of the dense language model's training (lm train and lm oneshot).
func registerLMTrain(fs *flag.FlagSet, o *experiment.LMTrainOptions) {
	fs.StringVar(&o.Model, "model", "gpt-tiny", "language model: gpt-tiny")
	fs.StringVar(&o.Corpus, "corpus", experiment.GoCorpus, `"go" (the Go source tree of this Go installation) or a directory holding WikiText-2 raw`)
	fs.IntVar(&o.TrainBytes, "train-bytes", 0, "use only the first N bytes of the training split (0: all), for quick trials")
	fs.IntVar(&o.Steps, "steps", 1000, "optimizer steps")
	fs.IntVar(&o.Batch, "batch", 32, "windows per step")
	fs.Float64Var(&o.LR, "lr", 1e-3, "Adam's peak learning rate")
	fs.IntVar(&o.Warmup, "warmup", 0, "steps of linear warm-up (0: a tenth of -steps; -1: none)")
	fs.BoolVar(&o.Constant, "constant", false, "keep the learning rate constant after the warm-up instead of a cosine to -lr/10")
	fs.Int64Var(&o.Seed, "seed", 1, "random seed: initialization and training windows")
	fs.IntVar(&o.EvalEvery, "eval-every", 100, "evaluate on the validation split every N steps (0: only at the end)")
	fs.IntVar(&o.EvalBytes, "eval-bytes", 64<<10, "bytes of the validation split per evaluation")
	fs.IntVar(&o.TestBytes, "test-bytes", 256<<10, "bytes of the test split evaluated (the dense and every pruned model)")
	fs.StringVar(&o.Out, "out", "runs", "directory under which run directories are created")
}

func runLMTrain(args []string, stdout, stderr io.Writer) error {
	var o experiment.LMTrainOptions
	fs := newFlagSet("lm train", lmTrainUsage, stderr)
	registerLMTrain(fs, &o)
	fs.BoolVar(&o.Force, "force", false, "train again even if the run directory holds a finished run")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	o.Log = stdout
	run, err := experiment.LMTrain(o)
	if err != nil {
		return err
	}
	run.WriteSummary(stdout)
	return nil
}

func runLMOneShot(args []string, stdout, stderr io.Writer) error {
	var o experiment.LMOneShotOptions
	fs := newFlagSet("lm oneshot", lmOneShotUsage, stderr)
	registerLMTrain(fs, &o.Dense)
	methods := fs.String("methods", strings.Join(oneshot.Methods, ","), "one-shot methods, comma-separated: "+strings.Join(oneshot.Methods, ", "))
	sparsities := fs.String("sparsities", "0.3,0.5,0.7", "unstructured sparsities in [0, 1), comma-separated (\"\": none)")
	nm := fs.String("nm", "2:4", `N:M patterns, N kept of every M inputs, comma-separated ("2:4,4:8"; "": none)`)
	seeds := fs.Int("seeds", 3, "calibration seeds 1..N: each draws its own calibration windows")
	fs.IntVar(&o.Calibration, "calibration", 128, "calibration windows per seed, drawn at random from the training split")
	skip := patterns{"/embed/**", "/head/**"}
	fs.Var(&skip, "skip", "leave the layers matching these patterns dense (comma-separated; replaces the default)")
	fs.IntVar(&o.SparseGPT.BlockSize, "block-size", 0, "sparsegpt: inputs per block of lazy updates (0: 128)")
	fs.Float64Var(&o.SparseGPT.PercDamp, "damp", 0, "sparsegpt: dampening as a fraction of mean(diag H) (0: 0.01)")
	fs.BoolVar(&o.Force, "force", false, "prune again even if the run directory holds a result (the dense run is reused)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if explicit(fs)["skip"] {
		skip = skip[2:] // the flag appended to the default
	}
	o.Skip = skip
	o.Methods = splitList(*methods)
	o.NM = splitList(*nm)
	for _, s := range splitList(*sparsities) {
		x, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return usageError{fmt.Errorf("-sparsities: %q is not a number", s)}
		}
		o.Sparsities = append(o.Sparsities, x)
	}
	if len(o.Sparsities) == 0 && len(o.NM) == 0 {
		return usageError{fmt.Errorf("-sparsities and -nm are both empty: nothing to prune to")}
	}
	if *seeds < 1 {
		return usageError{fmt.Errorf("-seeds %d: want at least 1", *seeds)}
	}
	for s := 1; s <= *seeds; s++ {
		o.Seeds = append(o.Seeds, int64(s))
	}
	if o.Calibration < 1 {
		return usageError{fmt.Errorf("-calibration %d: want at least 1 window", o.Calibration)}
	}
	o.Dense.Log = stdout
	run, err := experiment.LMOneShot(o)
	if err != nil {
		return err
	}
	run.WriteSummary(stdout)
	return nil
}

func runLMPrune(args []string, stdout, stderr io.Writer) error {
	var o experiment.LMPruneOptions
	fs := newFlagSet("lm prune", lmPruneUsage, stderr)
	registerLMTrain(fs, &o.Dense)
	fs.StringVar(&o.Structure, "structure", experiment.StructureHeads, "what is pruned: heads or blocks")
	fs.Float64Var(&o.Sparsity, "sparsity", 0.5, "fraction of the heads (or blocks) pruned in the end")
	fs.StringVar(&o.Criterion, "criterion", "taylor", "taylor (|∂L/∂gate|, Michel et al. 2019) or random")
	fs.IntVar(&o.GradientBatches, "gradient-batches", 8, "training batches the Taylor scores sum over")
	fs.StringVar(&o.Schedule, "schedule", "oneshot", "oneshot (all before fine-tuning) or polynomial (Zhu & Gupta 2017)")
	fs.IntVar(&o.Begin, "begin", 0, "polynomial: first fine-tuning step that prunes")
	fs.IntVar(&o.End, "end", 0, "polynomial: step by which the final sparsity is reached (0: -finetune/2)")
	fs.IntVar(&o.Frequency, "frequency", 0, "polynomial: steps between updates (0: -finetune/10)")
	fs.IntVar(&o.Finetune, "finetune", 200, "fine-tuning steps")
	fs.IntVar(&o.Batch, "finetune-batch", 0, "windows per fine-tuning step (0: the dense run's -batch)")
	fs.Float64Var(&o.LR, "finetune-lr", 0, "constant learning rate of fine-tuning (0: a tenth of the dense run's -lr)")
	fs.Int64Var(&o.Seed, "prune-seed", 1, "seed of the fine-tuning windows, the gradient batches and -criterion random")
	fs.BoolVar(&o.Force, "force", false, "prune again even if the run directory holds a result (the dense run is reused)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if o.Finetune == 0 {
		o.Finetune = -1 // asked for none; LMPruneOptions' zero means the default
	}
	o.Dense.Log = stdout
	run, err := experiment.LMPrune(o)
	if err != nil {
		return err
	}
	run.WriteSummary(stdout)
	return nil
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}
