package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prunelab/prunelab/compact"
	"github.com/prunelab/prunelab/export"
	"github.com/prunelab/prunelab/internal/atomicfile"
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

// compactReport is report.json of "prunelab compact".
type compactReport struct {
	Model             string          `json:"model"`
	Backend           string          `json:"backend"`
	Structure         string          `json:"structure"`
	ChannelSparsity   float64         `json:"channel_sparsity"`
	PruneSteps        []string        `json:"prune_steps"`
	DenseAccuracy     float64         `json:"dense_test_accuracy"`
	PrunedAccuracy    float64         `json:"pruned_test_accuracy"`
	CompactedAccuracy float64         `json:"compacted_test_accuracy"`
	Compaction        *compact.Report `json:"compaction"`
	// Median inference times (ms) of the pruned (masked) and compacted models, by batch size.
	Timings  []compactTiming `json:"timings"`
	File     string          `json:"file"`
	FileSize int             `json:"file_bytes"`
	Finished time.Time       `json:"finished"`
}

type compactTiming struct {
	Batch       int     `json:"batch"`
	PrunedMs    float64 `json:"pruned_ms"`
	CompactedMs float64 `json:"compacted_ms"`
	Speedup     float64 `json:"speedup"`
	// Efficiency is Speedup over the theoretical speedup (MACs ratio).
	Efficiency float64 `json:"efficiency"`
}

func runCompact(args []string, stdout, stderr io.Writer) error {
	var f pipelineFlags
	var batches string
	var runs int
	fs := newFlagSet("compact", compactUsage, stderr)
	f.register(fs, pipelineDefaults{prune: 0.5, structure: "groups", finetune: "0it", rounds: 1})
	fs.StringVar(&batches, "time-batches", "1,256", "batch sizes to time inference at (empty: no timing)")
	fs.IntVar(&runs, "time-runs", 10, "timed runs per batch size (the median is reported)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	sizes, err := parseInts(batches)
	if err != nil {
		return usageError{fmt.Errorf("-time-batches: %w", err)}
	}
	pl, err := newPipeline(f, stdout)
	if err != nil {
		return err
	}
	p, values, err := pl.trace()
	if err != nil {
		return err
	}
	res, err := compact.Compact(pl.sess.Backend(), p, values, compact.Options{Seed: uint64(f.Seed)})
	if err != nil {
		return err
	}
	rep := compactReport{Model: pl.model.Name, Backend: pl.sess.Backend().Name(), Structure: f.Structure,
		ChannelSparsity: f.Prune, PruneSteps: pl.PruneSteps, DenseAccuracy: pl.DenseAcc, PrunedAccuracy: pl.PrunedAcc,
		Compaction: res.Report}
	c := res.Report
	fmt.Fprintf(stdout, "compacted: %d of %d channels removed (%d cannot be: model input/output or mixed), "+
		"params %d -> %d, MACs %d -> %d (%.2fx fewer), %d compensation constants, max |diff| %.2g\n",
		c.RemovedChannels, c.Channels, c.FrozenChannels, c.ParamsBefore, c.ParamsAfter, c.MACsBefore, c.MACsAfter,
		c.Speedup, len(c.Compensations), c.MaxDiff)
	if rep.CompactedAccuracy, err = programAccuracy(pl, res.Program, res.Values, pl.split.test); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "test accuracy: dense %.2f%%, pruned %.2f%%, compacted %.2f%%\n", 100*pl.DenseAcc,
		100*pl.PrunedAcc, 100*rep.CompactedAccuracy)
	for _, batch := range sizes {
		tp, err := timeProgram(pl, p, values, batch, runs)
		if err != nil {
			return err
		}
		tc, err := timeProgram(pl, res.Program, res.Values, batch, runs)
		if err != nil {
			return err
		}
		t := compactTiming{Batch: batch, PrunedMs: ms(tp), CompactedMs: ms(tc), Speedup: float64(tp) / float64(tc)}
		if c.Speedup > 0 {
			t.Efficiency = t.Speedup / c.Speedup
		}
		rep.Timings = append(rep.Timings, t)
		fmt.Fprintf(stdout, "inference, batch %d: pruned %.3f ms, compacted %.3f ms: %.2fx faster (%.0f%% of the "+
			"theoretical %.2fx)\n", batch, t.PrunedMs, t.CompactedMs, t.Speedup, 100*t.Efficiency, c.Speedup)
	}
	dir := pl.runDir("compact", []any{batches, runs})
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	rep.File = filepath.Join(dir, "model.plx")
	var st *export.Stats
	if err := atomicfile.Write(rep.File, func(w io.Writer) error {
		var err error
		st, err = export.Write(w, res.Program, res.Values, export.Options{Meta: export.Meta{
			"model": pl.model.Name, "compacted": "true", "structure": f.Structure}})
		return err
	}); err != nil {
		return err
	}
	rep.FileSize = st.FileBytes
	rep.Finished = time.Now().UTC()
	if err := atomicfile.WriteJSON(filepath.Join(dir, "report.json"), rep); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Files: %s/ (model.plx %d bytes, report.json)\n", dir, st.FileBytes)
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// parseInts reads "1,256" (empty: none).
func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range splitList(s) {
		var n int
		if _, err := fmt.Sscan(f, &n); err != nil || n <= 0 {
			return nil, fmt.Errorf("%q is not a positive integer", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' })
}
