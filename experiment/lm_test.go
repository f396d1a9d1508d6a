package experiment_test

import (
	"encoding/csv"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/janpfeifer/must"

	"github.com/prunelab/prunelab/experiment"
	"github.com/prunelab/prunelab/textdata"
)

// tinyLM is a dense language model that trains in about 4 s on 2 cores: gpt-tiny, 40 steps of 16
// windows from the first MiB of the Go source tree, evaluated on 16 KiB of its test split.
func tinyLM(out string) experiment.LMTrainOptions {
	return experiment.LMTrainOptions{TrainBytes: 1 << 20, Steps: 40, Batch: 16, LR: 3e-3, EvalBytes: 4 << 10,
		TestBytes: 16 << 10, Seed: 1, Out: out}
}

// skipWithoutGoSource skips a test on a machine whose Go installation has no source tree.
func skipWithoutGoSource(t testing.TB) {
	t.Helper()
	if _, err := textdata.GoSource(textdata.GoSourceOptions{Max: textdata.Limits{Train: 1, Validation: 1, Test: 1}}); errors.Is(err, textdata.ErrNotFound) {
		t.Skipf("no Go source tree: %v", err)
	}
}

// roundHalfEven rounds as package oneshot counts the weights an unstructured pattern prunes.
func roundHalfEven(x float64) float64 { return math.RoundToEven(x) }

func TestLMTrainAndOneShot(t *testing.T) {
	skipWithoutGoSource(t)
	out := t.TempDir()
	dense := tinyLM(out)
	var log strings.Builder
	dense.Log = &log
	run, err := experiment.LMTrain(dense)
	if err != nil {
		t.Fatal(err)
	}
	r := run.Report
	t.Logf("after %d steps: test %v, unigram %v", r.Steps, r.Test, r.Unigram)
	if r.Steps != 40 || r.Test.Bytes != 16320 || r.Unigram.Bytes != r.Test.Bytes {
		t.Errorf("steps %d, test over %d bytes, unigram over %d; want 40 steps, 255 windows of 64 bytes for both",
			r.Steps, r.Test.Bytes, r.Unigram.Bytes)
	}
	if math.IsNaN(r.Test.Perplexity) || math.IsInf(r.Test.Perplexity, 0) || !(r.Test.Perplexity < r.Unigram.Perplexity) {
		t.Errorf("test perplexity %v, want finite and below the unigram baseline's %v", r.Test.Perplexity, r.Unigram.Perplexity)
	}
	if math.Abs(r.Test.BitsPerByte-math.Log2(r.Test.Perplexity)) > 1e-9 || len(r.Curve) != 1 || r.Curve[0].Step != 40 {
		t.Errorf("report %+v: bits per byte and perplexity disagree, or the curve is not one point at step 40", r)
	}
	if !strings.Contains(log.String(), "step     40") {
		t.Errorf("log lacks the evaluation line:\n%s", log.String())
	}
	for _, f := range []string{experiment.ConfigFile, experiment.ResultFile, experiment.HistoryJSONFile,
		experiment.HistoryCSVFile, experiment.ModelFile} {
		if _, err := os.Stat(filepath.Join(run.Dir, f)); err != nil {
			t.Errorf("run directory lacks %s: %v", f, err)
		}
	}
	if !strings.HasPrefix(filepath.Base(run.Dir), "lm-train-gpt-tiny-") {
		t.Errorf("run directory %s, want lm-train-gpt-tiny-HASH", run.Dir)
	}

	t.Run("reopen", func(t *testing.T) {
		m, err := experiment.ReadLanguageModel(filepath.Join(run.Dir, experiment.ModelFile))
		if err != nil {
			t.Fatal(err)
		}
		c := must.M1(textdata.GoSource(textdata.GoSourceOptions{Max: textdata.Limits{Train: 1, Validation: 1, Test: 16 << 10}}))
		ce, err := m.Evaluate(c.Test)
		if err != nil {
			t.Fatal(err)
		}
		if ce.Bytes != r.Test.Bytes || ce.NatsPerByte != r.Test.NatsPerByte || m.Name != "gpt-tiny" || m.Context() != 64 {
			t.Errorf("reopened %s (context %d): %v, want exactly the run's %v", m.Name, m.Context(), ce, r.Test)
		}
		// inspect describes the file; it does not evaluate a language model as a classifier.
		in, err := experiment.Inspect(filepath.Join(run.Dir, experiment.ModelFile), experiment.InspectOptions{SkipEval: true})
		if err != nil {
			t.Fatal(err)
		}
		if in.Params != 137226 { // GPTTiny.Params(), the 8 head gates and the 2 block gates
			t.Errorf("Inspect -no-eval: %d parameters, want 137226", in.Params)
		}
		if _, err := experiment.Inspect(filepath.Join(run.Dir, experiment.ModelFile), experiment.InspectOptions{}); !errors.Is(err, experiment.ErrOptions) ||
			!strings.Contains(err.Error(), "-no-eval") {
			t.Errorf("Inspect with evaluation: %v, want an ErrOptions pointing to -no-eval", err)
		}
	})

	t.Run("resume", func(t *testing.T) {
		again, err := experiment.LMTrain(dense)
		if err != nil {
			t.Fatal(err)
		}
		if !again.Reused || again.Dir != run.Dir || again.Report.Test != r.Test || again.Corpus != nil {
			t.Errorf("second run: reused %v in %s, test %v; want the first run's result read back from %s",
				again.Reused, again.Dir, again.Report.Test, run.Dir)
		}
		// Other test bytes: the same model (no training), evaluated again.
		more := dense
		more.TestBytes = 8 << 10
		other, err := experiment.LMTrain(more)
		if err != nil {
			t.Fatal(err)
		}
		if !other.Reused || other.Dir != run.Dir || other.Report.Test.Bytes != 8128 {
			t.Errorf("with 8 KiB of test: reused %v in %s, test over %d bytes; want the same run evaluated on 127 windows",
				other.Reused, other.Dir, other.Report.Test.Bytes)
		}
	})

	t.Run("oneshot", func(t *testing.T) {
		o := experiment.LMOneShotOptions{Dense: dense, Sparsities: []float64{0.5}, NM: []string{"2:4"},
			Seeds: []int64{1, 2}, Calibration: 16}
		res, err := experiment.LMOneShot(o)
		if err != nil {
			t.Fatal(err)
		}
		rep := res.Report
		if rep.DenseRun != run.Dir || rep.Dense != r.Test || len(rep.Points) != 16 || len(rep.Levels) != 8 {
			t.Fatalf("dense run %s (want %s), dense %v (want %v), %d points, %d levels; want 4 methods × 2 patterns × 2 seeds",
				rep.DenseRun, run.Dir, rep.Dense, r.Test, len(rep.Points), len(rep.Levels))
		}
		for _, p := range rep.Points {
			if len(p.Layers) != 12 {
				t.Errorf("%s %s seed %d: %d layers pruned, want the 12 of the blocks", p.Method, p.Pattern, p.Seed, len(p.Layers))
			}
			for _, l := range p.Layers {
				want := 0.5 // 2:4
				switch {
				case p.Pattern == "0.5" && p.Method == "magnitude-layer": // ranked over the whole layer
					want = roundHalfEven(0.5*float64(l.In*l.Out)) / float64(l.In*l.Out)
				case p.Pattern == "0.5": // per output
					want = roundHalfEven(0.5*float64(l.In)) / float64(l.In)
				}
				if l.Sparsity != want || strings.HasPrefix(l.Path, "/embed/") || strings.HasPrefix(l.Path, "/head/") {
					t.Errorf("%s %s: layer %s sparsity %v, want exactly %v (and embedding and head left dense)",
						p.Method, p.Pattern, l.Path, l.Sparsity, want)
				}
			}
			// 2:4 keeps 2 of every 4 inputs of each output: half of every head's q, k and v columns and,
			// its 16 rows holding 4 whole groups per output, half of its output-projection rows.
			if len(p.Heads) != 8 {
				t.Errorf("%s %s: %d head sparsities, want gpt-tiny's 8 heads", p.Method, p.Pattern, len(p.Heads))
			}
			for _, h := range p.Heads {
				if p.Pattern == "2:4" && h.Sparsity != 0.5 || h.Masked {
					t.Errorf("%s %s: block %d head %d sparsity %v (masked %v), want exactly 0.5 at 2:4 and no gate off",
						p.Method, p.Pattern, h.Block, h.Head, h.Sparsity, h.Masked)
				}
			}
			if math.IsNaN(p.Test.Perplexity) || p.Test.Bytes != r.Test.Bytes {
				t.Errorf("%s %s seed %d: test %v over %d bytes", p.Method, p.Pattern, p.Seed, p.Test, p.Test.Bytes)
			}
		}
		for _, pattern := range []string{"0.5", "2:4"} {
			mag, _ := rep.Level("magnitude", pattern)
			sgpt, _ := rep.Level("sparsegpt", pattern)
			wanda, _ := rep.Level("wanda", pattern)
			t.Logf("%s: magnitude %.3f, wanda %.3f ± %.3f, sparsegpt %.3f ± %.3f (dense %.3f)", pattern, mag.Perplexity,
				wanda.Perplexity, wanda.PerplexityStd, sgpt.Perplexity, sgpt.PerplexityStd, rep.Dense.Perplexity)
			layer, _ := rep.Level("magnitude-layer", pattern)
			if pattern == "2:4" && layer.Perplexity != mag.Perplexity {
				t.Errorf("2:4: layer-wise magnitude %.4f differs from per-output magnitude %.4f (N:M groups lie within an output)",
					layer.Perplexity, mag.Perplexity)
			}
			if mag.PerplexityStd != 0 || mag.Seeds != 2 || layer.PerplexityStd != 0 || wanda.PerplexityStd == 0 {
				t.Errorf("%s: magnitude std %v over %d seeds (want 0: it reads no calibration data), wanda std %v (want > 0)",
					pattern, mag.PerplexityStd, mag.Seeds, wanda.PerplexityStd)
			}
			// SparseGPT reconstructs what pruning removes: it held at this budget for every step count,
			// learning rate and calibration size tried (e.g. 28.73 against 28.84 at 50%).
			if !(sgpt.Perplexity <= mag.Perplexity) {
				t.Errorf("%s: SparseGPT perplexity %.3f above magnitude's %.3f", pattern, sgpt.Perplexity, mag.Perplexity)
			}
		}
		for _, f := range []string{experiment.ConfigFile, experiment.ResultsJSONFile, experiment.ResultsCSVFile,
			experiment.LMFigureName + ".svg", experiment.LMFigureName + ".png"} {
			if _, err := os.Stat(filepath.Join(res.Dir, f)); err != nil {
				t.Errorf("run directory lacks %s: %v", f, err)
			}
		}
		rows := must.M1(csv.NewReader(strings.NewReader(string(must.M1(os.ReadFile(filepath.Join(res.Dir,
			experiment.ResultsCSVFile)))))).ReadAll())
		if len(rows) != 1+2+8 || rows[1][0] != "dense" || rows[2][0] != "unigram" || rows[3][0] != "magnitude" {
			t.Errorf("results.csv rows %q, want a header, dense, unigram and 8 levels", rows)
		}
		var summary strings.Builder
		res.WriteSummary(&summary)
		if !strings.Contains(summary.String(), "2:4") || !strings.Contains(summary.String(), "sparsegpt") {
			t.Errorf("summary lacks the table:\n%s", summary.String())
		}

		// The finished run is found again; a killed one resumes from its points.
		again := must.M1(experiment.LMOneShot(o))
		if !again.Reused || again.Report.Levels[7] != rep.Levels[7] {
			t.Errorf("second run reused %v, levels %v; want the first result read back", again.Reused, again.Report.Levels)
		}
		must.M(os.Remove(filepath.Join(res.Dir, experiment.ResultsJSONFile)))
		must.M(os.Remove(filepath.Join(res.Dir, experiment.LMPointsDir, "sparsegpt-2of4-seed2.json")))
		resumed := must.M1(experiment.LMOneShot(o))
		if resumed.Reused || fmt.Sprint(resumed.Report.Levels) != fmt.Sprint(rep.Levels) {
			t.Errorf("resumed run: levels %v, want %v (one point computed again, deterministically)",
				resumed.Report.Levels, rep.Levels)
		}
	})
}

func TestLMOptionsErrors(t *testing.T) {
	out := t.TempDir()
	empty := t.TempDir()
	dense := experiment.LMTrainOptions{Out: out}
	for _, tc := range []struct {
		name string
		run  func() error
		want string
	}{
		{"empty corpus dir", func() error {
			_, err := experiment.LMTrain(experiment.LMTrainOptions{Corpus: empty, Out: out})
			return err
		}, "-corpus"},
		{"unknown model", func() error {
			_, err := experiment.LMTrain(experiment.LMTrainOptions{Model: "gpt-huge", Out: out})
			return err
		}, `-model "gpt-huge"`},
		{"negative steps", func() error {
			_, err := experiment.LMTrain(experiment.LMTrainOptions{Steps: -1, Out: out})
			return err
		}, "-steps -1"},
		{"test shorter than a window", func() error {
			_, err := experiment.LMTrain(experiment.LMTrainOptions{TestBytes: 10, Out: out})
			return err
		}, "-test-bytes 10"},
		{"unknown method", func() error {
			_, err := experiment.LMOneShot(experiment.LMOneShotOptions{Dense: dense, Methods: []string{"obs"}})
			return err
		}, `-methods: unknown method "obs"`},
		{"sparsity 1", func() error {
			_, err := experiment.LMOneShot(experiment.LMOneShotOptions{Dense: dense, Sparsities: []float64{0.5, 1}})
			return err
		}, "-sparsities: 1 is not a sparsity in [0, 1)"},
		{"negative sparsity", func() error {
			_, err := experiment.LMOneShot(experiment.LMOneShotOptions{Dense: dense, Sparsities: []float64{-0.1}})
			return err
		}, "-sparsities: -0.1"},
		{"bad N:M", func() error {
			_, err := experiment.LMOneShot(experiment.LMOneShotOptions{Dense: dense, NM: []string{"5:4"}})
			return err
		}, `-nm "5:4"`},
		{"N:M that does not fit", func() error {
			_, err := experiment.LMOneShot(experiment.LMOneShotOptions{Dense: dense, NM: []string{"2:6"}})
			return err
		}, "-nm 2:6: layer /block0/attn/q/dense/weights has 64 inputs"},
		{"negative calibration", func() error {
			_, err := experiment.LMOneShot(experiment.LMOneShotOptions{Dense: dense, Calibration: -5})
			return err
		}, "-calibration -5"},
		{"duplicate seed", func() error {
			_, err := experiment.LMOneShot(experiment.LMOneShotOptions{Dense: dense, Seeds: []int64{1, 1}})
			return err
		}, "-seeds: seed 1 given twice"},
		{"skip matching nothing", func() error {
			_, err := experiment.LMOneShot(experiment.LMOneShotOptions{Dense: dense, Skip: []string{"/decoder/**"}})
			return err
		}, `-skip "/decoder/**" matches no linear layer`},
		{"dense options checked too", func() error {
			_, err := experiment.LMOneShot(experiment.LMOneShotOptions{Dense: experiment.LMTrainOptions{Corpus: empty}})
			return err
		}, "-corpus"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run()
			if !errors.Is(err, experiment.ErrOptions) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want an ErrOptions mentioning %q", err, tc.want)
			}
		})
	}
	if entries, _ := os.ReadDir(out); len(entries) != 0 {
		t.Errorf("bad options wrote %d entries under %s; want none", len(entries), out)
	}
}

// LMOneShot trains gpt-tiny (or finds its finished run), prunes it in one shot with each method,
// and writes results.json, results.csv and the perplexity-vs-sparsity figure; the summary prints
// the table. A tiny budget here; the zero value of the options is the published one.
func ExampleLMOneShot() {
	out := must.M1(os.MkdirTemp("", "prunelab-example"))
	defer os.RemoveAll(out)
	res := must.M1(experiment.LMOneShot(experiment.LMOneShotOptions{
		Dense: experiment.LMTrainOptions{TrainBytes: 1 << 20, Steps: 30, Batch: 16, LR: 3e-3, TestBytes: 8 << 10,
			EvalBytes: 4 << 10, Seed: 1, Out: out},
		Methods: []string{"magnitude", "sparsegpt"},
		NM:      []string{"2:4"},
		Seeds:   []int64{1},
	}))
	r := res.Report
	mag, _ := r.Level("magnitude", "2:4")
	sgpt, _ := r.Level("sparsegpt", "2:4")
	fmt.Printf("2:4 prunes %.0f%% of the blocks' weights; dense below the unigram baseline: %v; "+
		"SparseGPT at or below magnitude: %v\n", 100*sgpt.Sparsity, r.Dense.Perplexity < r.Unigram.Perplexity,
		sgpt.Perplexity <= mag.Perplexity)
	fmt.Println(res.Files)
	// Output:
	// 2:4 prunes 50% of the blocks' weights; dense below the unigram baseline: true; SparseGPT at or below magnitude: true
	// [perplexity_vs_sparsity.{svg,png}]
}
