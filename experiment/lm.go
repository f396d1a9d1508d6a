package experiment

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/prunelab/prunelab/backend"
	"github.com/prunelab/prunelab/export"
	"github.com/prunelab/prunelab/internal/atomicfile"
	"github.com/prunelab/prunelab/lm"
	"github.com/prunelab/prunelab/models"
	"github.com/prunelab/prunelab/oneshot"
	"github.com/prunelab/prunelab/program"
	"github.com/prunelab/prunelab/pruning"
	"github.com/prunelab/prunelab/report"
	"github.com/prunelab/prunelab/textdata"
	"github.com/prunelab/prunelab/viz"
)

// GoCorpus is the [LMTrainOptions.Corpus] that selects the Go distribution's source tree
// ([textdata.GoSource]); any other value is a directory holding WikiText-2 raw.
const GoCorpus = "go"

// lmKind is the "kind" metadata of the model files LMTrain writes.
const lmKind = "byte-level language model"

// lmModels are the language models the LM flows train, by registry name.
var lmModels = map[string]models.GPTConfig{"gpt-tiny": models.GPTTiny}

// LMTrainOptions are the settings of [LMTrain]. The zero value trains gpt-tiny on the Go source
// tree for 1,000 steps of batch 32 (Adam 1e-3, 100 warm-up steps, a cosine to 1e-4), seed 0, and
// evaluates it on the first 256 KiB of the test split, into runs/.
type LMTrainOptions struct {
	// Model is the language model: "gpt-tiny" (default; models.GPTTiny).
	Model string
	// Corpus is [GoCorpus] ("go", the default: the .go files of $(go env GOROOT)/src, split by
	// file) or a directory holding WikiText-2 raw (wiki.{train,valid,test}.raw, or a
	// wikitext-2-raw subdirectory holding them).
	Corpus string
	// TrainBytes > 0 keeps only the first that many bytes of the training split (quick trials; the
	// Go corpus then reads no more files than that).
	TrainBytes int
	// Steps is the number of optimizer steps (default 1000); Batch the windows per step (default 32).
	Steps, Batch int
	// LR is Adam's peak learning rate (default 1e-3). Warmup is the number of steps of linear
	// warm-up (default Steps/10; negative: none). After it the learning rate follows a half cosine
	// down to LR/10 at the last step, or stays at LR with Constant.
	LR       float64
	Warmup   int
	Constant bool
	// Seed drives initialization and the training windows; 0 is a seed like any other.
	Seed int64
	// EvalEvery evaluates on the validation split every that many steps (0: only at the end);
	// EvalBytes caps the validation bytes per evaluation (default 64 KiB). Neither changes the model.
	EvalEvery, EvalBytes int
	// TestBytes is how much of the test split the final evaluation reads (default 256 KiB; the
	// whole split when it is shorter).
	TestBytes int
	// Out is the directory run directories go under (default "runs").
	Out string
	// Force trains again even when the run directory holds a finished run.
	Force bool
	// Log receives progress lines (nil: none).
	Log io.Writer
}

func (o LMTrainOptions) withDefaults() LMTrainOptions {
	if o.Model == "" {
		o.Model = "gpt-tiny"
	}
	if o.Corpus == "" {
		o.Corpus = GoCorpus
	}
	if o.Steps == 0 {
		o.Steps = 1000
	}
	if o.Batch == 0 {
		o.Batch = 32
	}
	if o.LR == 0 {
		o.LR = 1e-3
	}
	if o.Warmup == 0 {
		o.Warmup = o.Steps / 10
	}
	if o.Warmup < 0 {
		o.Warmup = 0
	}
	if o.EvalBytes == 0 {
		o.EvalBytes = 64 << 10
	}
	if o.TestBytes == 0 {
		o.TestBytes = 256 << 10
	}
	if o.Out == "" {
		o.Out = "runs"
	}
	return o
}

// LMTrainConfig is what changes a language model's weights: it is hashed to name the run directory
// (lm-train-MODEL-HASH) and saved in it as config.json. Corpus is "go" or "wikitext-2" (never a
// path); Schedule "cosine" or "constant".
type LMTrainConfig struct {
	Model, Corpus        string
	TrainBytes           int
	Steps, Batch, Warmup int
	LR                   float64
	Schedule             string
	Seed                 int64
}

// Dir is the run directory of this configuration under out.
func (c LMTrainConfig) Dir(out string) string {
	return filepath.Join(out, fmt.Sprintf("lm-train-%s-%s", c.Model, Hash(c)))
}

// resolve checks the options (an [ErrOptions] naming the flag when wrong) and returns the run's
// configuration and model, without loading or training anything.
func (o LMTrainOptions) resolve() (LMTrainConfig, models.GPTConfig, error) {
	var rc LMTrainConfig
	cfg, ok := lmModels[o.Model]
	if !ok {
		return rc, cfg, badOptionsf("-model %q: not a language model (known: %s)", o.Model,
			strings.Join(slices.Sorted(maps.Keys(lmModels)), ", "))
	}
	corpus := "go"
	if o.Corpus != GoCorpus {
		corpus = "wikitext-2"
		if err := checkWikiText2(o.Corpus); err != nil {
			return rc, cfg, err
		}
	}
	switch {
	case o.Steps < 0:
		return rc, cfg, badOptionsf("-steps %d: want a positive number of steps", o.Steps)
	case o.Batch < 0:
		return rc, cfg, badOptionsf("-batch %d: want a positive batch size", o.Batch)
	case !(o.LR > 0) || math.IsInf(o.LR, 0):
		return rc, cfg, badOptionsf("-lr %g: want a positive learning rate", o.LR)
	case o.TrainBytes < 0:
		return rc, cfg, badOptionsf("-train-bytes %d: want 0 (all) or a positive number of bytes", o.TrainBytes)
	case o.EvalEvery < 0:
		return rc, cfg, badOptionsf("-eval-every %d: want 0 (only at the end) or a positive number of steps", o.EvalEvery)
	case o.EvalBytes < 0:
		return rc, cfg, badOptionsf("-eval-bytes %d: want a positive number of bytes", o.EvalBytes)
	case o.TestBytes < cfg.Context+1:
		return rc, cfg, badOptionsf("-test-bytes %d: want at least one window of %d bytes", o.TestBytes, cfg.Context+1)
	}
	schedule := "cosine"
	if o.Constant {
		schedule = "constant"
	}
	rc = LMTrainConfig{Model: o.Model, Corpus: corpus, TrainBytes: o.TrainBytes, Steps: o.Steps, Batch: o.Batch,
		Warmup: o.Warmup, LR: o.LR, Schedule: schedule, Seed: o.Seed}
	return rc, cfg, nil
}

// checkWikiText2 checks that dir holds WikiText-2 raw, as [textdata.WikiText2] reads it.
func checkWikiText2(dir string) error {
	var missing []string
	for _, d := range []string{dir, filepath.Join(dir, "wikitext-2-raw")} {
		missing = missing[:0]
		for _, f := range textdata.WikiText2Files {
			if st, err := os.Stat(filepath.Join(d, f)); err != nil || st.Size() == 0 {
				missing = append(missing, f)
			}
		}
		if len(missing) == 0 {
			return nil
		}
	}
	return badOptionsf("-corpus %q: neither %q nor a directory holding WikiText-2 raw (%s missing or empty)", dir,
		GoCorpus, strings.Join(missing, ", "))
}

// LMScore is a language model's cross-entropy on some bytes, in every unit.
type LMScore struct {
	Bytes       int     `json:"bytes"`
	NatsPerByte float64 `json:"nats_per_byte"`
	BitsPerByte float64 `json:"bits_per_byte"`
	Perplexity  float64 `json:"perplexity"`
}

func lmScore(ce textdata.CrossEntropy) LMScore {
	return LMScore{Bytes: ce.Bytes, NatsPerByte: ce.NatsPerByte, BitsPerByte: ce.BitsPerByte(), Perplexity: ce.Perplexity()}
}

// String reads e.g. "3.799 bits/byte (perplexity 13.92)".
func (s LMScore) String() string {
	return fmt.Sprintf("%.3f bits/byte (perplexity %.2f)", s.BitsPerByte, s.Perplexity)
}

// LMPoint is one evaluation during training: the mean training loss since the previous point and
// the validation score.
type LMPoint struct {
	Step       int     `json:"step"`
	TrainLoss  float64 `json:"train_nats_per_byte"`
	Validation LMScore `json:"validation"`
}

// LMTrainReport is result.json of a language-model training run.
type LMTrainReport struct {
	Model   string `json:"model"`
	Backend string `json:"backend"`
	// Corpus says where the text came from (directory and Go version); TrainBytes is the size of
	// the training text.
	Corpus     string `json:"corpus"`
	TrainBytes int    `json:"train_bytes"`
	Params     int    `json:"params"`
	Steps      int    `json:"steps"`
	// Curve holds the validation evaluations; Validation is the last.
	Curve      []LMPoint `json:"curve"`
	Validation LMScore   `json:"validation"`
	// Test is the trained model's score on the first bytes of the test split, Unigram the
	// unigram baseline's (byte frequencies of the training text) on the same bytes.
	Test    LMScore `json:"test"`
	Unigram LMScore `json:"unigram_test"`
	// TestBytesAsked is the test text asked for (LMTrainOptions.TestBytes), TestText the bytes
	// of test text read (fewer when the split is shorter).
	TestBytesAsked int `json:"test_bytes_asked"`
	TestText       int `json:"test_text_bytes"`
	// Times: all steps, the first (graph compilation), the mean of the others, the whole run.
	TrainSeconds     float64   `json:"train_seconds"`
	FirstStepSeconds float64   `json:"first_step_seconds"`
	StepMs           float64   `json:"step_ms"`
	TotalSeconds     float64   `json:"total_seconds"`
	GoVersion        string    `json:"go_version"`
	Finished         time.Time `json:"finished"`
}

// LMTrainResult is a finished language-model training run: its directory, configuration and
// report (result.json), and the trained model, as stored in model.plx.
type LMTrainResult struct {
	Dir    string
	Config LMTrainConfig
	Report LMTrainReport
	// Reused says the run directory already held this run: nothing was trained. When the options
	// asked for other test bytes than the stored report's, Report.Test and Report.Unigram are
	// measured again on them (result.json is left as it was).
	Reused bool
	Model  *LanguageModel
	// Corpus is the text, when it was loaded (always unless Reused).
	Corpus *textdata.Corpus
}

// LMTrain trains a byte-level language model (package lm) on the Go source tree or WikiText-2,
// evaluates it on the test split beside the unigram baseline, and writes an lm-train-MODEL-HASH
// run directory: config.json, history.json/.csv (step, training loss, validation bits per byte
// and perplexity), model.plx (the model as a traced program with its weights, in package export's
// format: [ReadLanguageModel] reads it, "prunelab inspect -no-eval" describes it) and result.json,
// last. The same options find the finished run instead of training again.
func LMTrain(o LMTrainOptions) (*LMTrainResult, error) {
	start := time.Now()
	o = o.withDefaults()
	rc, cfg, err := o.resolve()
	if err != nil {
		return nil, err
	}
	log := logger(o.Log)
	run := &LMTrainResult{Dir: rc.Dir(o.Out), Config: rc}
	if !o.Force {
		if ok, err := run.reuse(o); ok || err != nil {
			return run, err
		}
	}
	c, err := loadCorpus(o)
	if err != nil {
		return nil, err
	}
	run.Corpus = c
	fmt.Fprintf(log, "%s on %s: %d training, %d validation, %d test bytes\n", o.Model, c.Source, len(c.Train),
		len(c.Validation), len(c.Test))
	b, err := backend.Default()
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(log, "backend %q, %d CPUs; %d steps of %d windows of %d bytes, Adam %g (%d warm-up steps, %s), seed %d\n",
		b.Name(), runtime.NumCPU(), rc.Steps, rc.Batch, cfg.Context+1, rc.LR, rc.Warmup, rc.Schedule, rc.Seed)
	res, err := lm.Train(lm.Config{Model: lm.GPT(o.Model, cfg), Train: c.Train, Validation: c.Validation,
		Steps: rc.Steps, BatchSize: rc.Batch, LearningRate: rc.LR, Warmup: rc.Warmup, Cosine: !o.Constant,
		EvalEvery: o.EvalEvery, EvalBytes: o.EvalBytes, Seed: rc.Seed, Log: o.Log})
	if err != nil {
		return nil, err
	}
	p, err := program.Trace(b, res.Context, cfg.Build, shapes.Make(dtypes.Float32, cfg.Context))
	if err != nil {
		return nil, fmt.Errorf("tracing %s: %w", o.Model, err)
	}
	values, err := p.Values(res.Context)
	if err != nil {
		return nil, err
	}
	run.Model = &LanguageModel{Name: o.Model, Program: p, Values: values}
	r := &run.Report
	*r = LMTrainReport{Model: o.Model, Backend: b.Name(), Corpus: c.Source, TrainBytes: len(c.Train),
		Params: p.NumParams(), Steps: res.Steps, Validation: lmScore(res.Final),
		TrainSeconds: res.TrainTime.Seconds(), FirstStepSeconds: res.FirstStep.Seconds(),
		StepMs: float64(res.StepTime.Microseconds()) / 1000}
	for _, pt := range res.Curve {
		r.Curve = append(r.Curve, LMPoint{Step: pt.Step, TrainLoss: pt.TrainLoss, Validation: lmScore(pt.Validation)})
	}
	// The test score is the stored model's (the traced program), so that a reopened run gives it again.
	if r.Test, r.Unigram, err = testScores(run.Model, c, o.TestBytes); err != nil {
		return nil, err
	}
	r.TestBytesAsked, r.TestText = o.TestBytes, min(o.TestBytes, len(c.Test))
	r.TotalSeconds, r.GoVersion, r.Finished = time.Since(start).Seconds(), runtime.Version(), time.Now().UTC()
	return run, run.write()
}

// reuse reads a finished run from run.Dir: false when there is none. A run evaluated on other
// test bytes than o asks for is evaluated again.
func (run *LMTrainResult) reuse(o LMTrainOptions) (bool, error) {
	if readJSON(filepath.Join(run.Dir, ResultFile), &run.Report) != nil {
		return false, nil
	}
	m, err := ReadLanguageModel(filepath.Join(run.Dir, ModelFile))
	if err != nil {
		return false, err
	}
	run.Model, run.Reused = m, true
	r := run.Report
	wholeSplit := r.TestText < r.TestBytesAsked // the split was shorter than asked: as much asks for it all
	if o.TestBytes == r.TestBytesAsked || wholeSplit && o.TestBytes >= r.TestText {
		return true, nil
	}
	return true, run.reevaluate(o)
}

// reevaluate measures a reused run's model on the test bytes o asks for.
func (run *LMTrainResult) reevaluate(o LMTrainOptions) error {
	c, err := loadCorpus(o)
	if err != nil {
		return err
	}
	run.Corpus = c
	r := &run.Report
	r.Test, r.Unigram, err = testScores(run.Model, c, o.TestBytes)
	r.TestBytesAsked, r.TestText = o.TestBytes, min(o.TestBytes, len(c.Test))
	return err
}

// testScores evaluates m and the unigram baseline of c's training text on the first n bytes of
// c's test split (the same bytes).
func testScores(m *LanguageModel, c *textdata.Corpus, n int) (model, unigram LMScore, err error) {
	test := c.Test[:min(n, len(c.Test))]
	ce, err := m.Evaluate(test)
	if err != nil {
		return model, unigram, err
	}
	return lmScore(ce), lmScore(textdata.Unigram(c.Train).CrossEntropy(test[1 : ce.Bytes+1])), nil
}

// write writes the run directory, result.json last.
func (run *LMTrainResult) write() error {
	dir, r := run.Dir, &run.Report
	if err := atomicfile.WriteJSON(filepath.Join(dir, ConfigFile), run.Config); err != nil {
		return err
	}
	if err := atomicfile.WriteJSON(filepath.Join(dir, HistoryJSONFile), r.Curve); err != nil {
		return err
	}
	err := atomicfile.Write(filepath.Join(dir, HistoryCSVFile), func(w io.Writer) error {
		if _, err := fmt.Fprintln(w, "step,train_nats_per_byte,validation_bits_per_byte,validation_perplexity"); err != nil {
			return err
		}
		for _, p := range r.Curve {
			if _, err := fmt.Fprintf(w, "%d,%.6g,%.6g,%.6g\n", p.Step, p.TrainLoss, p.Validation.BitsPerByte,
				p.Validation.Perplexity); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	meta := export.Meta{"model": run.Config.Model, "kind": lmKind, "corpus": r.Corpus,
		"steps": fmt.Sprint(r.Steps), "test_bits_per_byte": fmt.Sprintf("%.4f", r.Test.BitsPerByte)}
	if _, err := WriteModel(filepath.Join(dir, ModelFile), run.Model.Program, run.Model.Values,
		export.Options{Meta: meta}); err != nil {
		return err
	}
	return atomicfile.WriteJSON(filepath.Join(dir, ResultFile), r)
}

// WriteSummary prints the test score beside the unigram baseline, the time and the files.
func (run *LMTrainResult) WriteSummary(w io.Writer) {
	r := run.Report
	if run.Reused {
		fmt.Fprintf(w, "prunelab lm train: %s already holds this run's result (-force trains again).\n", run.Dir)
	}
	fmt.Fprintf(w, "\nResult of %s:\n", run.Dir)
	fmt.Fprintf(w, "  test           %s over %d bytes\n", r.Test, r.Test.Bytes)
	fmt.Fprintf(w, "  unigram        %s on the same bytes\n", r.Unigram)
	fmt.Fprintf(w, "  validation     %s (last evaluation)\n", r.Validation)
	fmt.Fprintf(w, "  training       %d steps, %.1f s (%.0f ms/step); %d parameters\n", r.Steps, r.TrainSeconds, r.StepMs,
		r.Params)
	fmt.Fprintf(w, "Files: %s/ (config.json, result.json, history.json, history.csv, model.plx)\n", run.Dir)
}

// loadCorpus loads the corpus o names, its training split cut at o.TrainBytes, its validation
// split at o.EvalBytes and its test split at o.TestBytes.
func loadCorpus(o LMTrainOptions) (*textdata.Corpus, error) {
	var c *textdata.Corpus
	var err error
	if o.Corpus == GoCorpus {
		c, err = textdata.GoSource(textdata.GoSourceOptions{Max: textdata.Limits{Train: o.TrainBytes,
			Validation: o.EvalBytes, Test: o.TestBytes}})
	} else {
		c, err = textdata.WikiText2(o.Corpus)
	}
	if err != nil {
		if errors.Is(err, textdata.ErrNotFound) || errors.Is(err, textdata.ErrEmpty) {
			return nil, badOptionsf("-corpus %q: %w", o.Corpus, err)
		}
		return nil, err
	}
	cut := func(b []byte, n int) []byte {
		if n > 0 && n < len(b) {
			return b[:n]
		}
		return b
	}
	c.Train, c.Validation, c.Test = cut(c.Train, o.TrainBytes), cut(c.Validation, o.EvalBytes), cut(c.Test, o.TestBytes)
	return c, nil
}

// LanguageModel is a trained byte-level language model as a traced program (package program) and
// the values of its variables: what an LM run directory's model.plx holds. It reads byte values,
// float32 [batch, Context], and returns next-byte logits [batch, Context, 256].
type LanguageModel struct {
	Name    string
	Program *program.Program
	Values  map[string][]float32
}

// Context is the number of bytes the model reads: its window.
func (m *LanguageModel) Context() int { return m.Program.InputDims()[0] }

// Evaluate returns the model's cross-entropy on text (every byte but the first, in windows of
// Context+1 bytes laid end to end; see [lm.Evaluate]) on the default backend.
func (m *LanguageModel) Evaluate(text []byte) (textdata.CrossEntropy, error) {
	ctx, err := m.Program.NewContext(m.Values)
	if err != nil {
		return textdata.CrossEntropy{}, err
	}
	return lm.Evaluate(ctx, m.LM(), text)
}

// LM is the model as package lm runs it: with a context from Program.NewContext(Values), it
// evaluates with [lm.Evaluate].
func (m *LanguageModel) LM() lm.Model {
	return lm.Model{Name: m.Name, Context: m.Context(), Build: m.Program.Build}
}

// WithValues is the same model with other values of its variables (e.g. pruned ones).
func (m *LanguageModel) WithValues(values map[string][]float32) *LanguageModel {
	return &LanguageModel{Name: m.Name, Program: m.Program, Values: values}
}

// ReadLanguageModel reads a language model written by [LMTrain] (model.plx of an lm-train run
// directory), checking the file's checksum and that its program maps byte windows [T] to
// next-byte logits [T, 256]. Errors name the file.
func ReadLanguageModel(path string) (*LanguageModel, error) {
	m, err := ReadModel(path)
	if err != nil {
		return nil, err
	}
	p := m.Program
	in, out := p.InputDims(), p.Ops[p.Output].Dims
	if len(in) != 1 || in[0] < 1 || len(out) != 3 || out[1] != in[0] || out[2] != models.GPTVocabulary {
		return nil, fmt.Errorf("%s: not a byte-level language model (input %v, output %v): %w", path, in, out,
			export.ErrFormat)
	}
	name := m.Meta["model"]
	if name == "" {
		name = filepath.Base(path)
	}
	return &LanguageModel{Name: name, Program: p, Values: m.Values}, nil
}

// LMOneShotOptions are the settings of [LMOneShot]. The zero value prunes gpt-tiny (trained as
// [LMTrainOptions]' zero value) with magnitude (per output and layer-wise), Wanda and SparseGPT to 30%, 50% and 70%
// unstructured and 2:4, from 128 calibration windows drawn with seeds 1, 2 and 3, leaving the
// embedding and the head dense.
type LMOneShotOptions struct {
	// Dense is the language model to prune: its training run is reused when finished, else trained
	// first. Its TestBytes is also the test text of the pruned models.
	Dense LMTrainOptions
	// Methods are the one-shot methods compared (default all of [oneshot.Methods]: magnitude per
	// output, magnitude over the whole layer, Wanda, SparseGPT).
	Methods []string
	// Sparsities are the unstructured levels, fractions of each layer's weights in [0, 1); NM the
	// N:M patterns ("2:4": 2 of every 4 consecutive inputs of each output kept). When both are
	// empty: 0.3, 0.5 and 0.7, and 2:4.
	Sparsities []float64
	NM         []string
	// Seeds are the calibration seeds (default 1, 2, 3): each draws its own Calibration windows
	// of Context bytes from the training split. The magnitude methods read no calibration data: each is pruned
	// once and that result stands for every seed.
	Seeds []int64
	// Calibration is the number of windows per seed (default 128; every position is a row of the
	// layer statistics).
	Calibration int
	// Skip leaves the layers matching these patterns dense (default "/embed/**" and "/head/**",
	// as the papers leave embeddings and heads).
	Skip []string
	// SparseGPT tunes the "sparsegpt" method (block size, dampening).
	SparseGPT oneshot.SparseGPTOptions
	// Force runs again even when the run directory holds a result (the dense run is reused unless
	// Dense.Force).
	Force bool
}

// LMOneShotConfig is what changes a language-model one-shot run's numbers (hashed into its
// directory name, lm-oneshot-MODEL-HASH, and saved as config.json).
type LMOneShotConfig struct {
	Dense       LMTrainConfig
	Methods     []string
	Patterns    []string
	Seeds       []int64
	Calibration int
	Skip        []string
	BlockSize   int
	PercDamp    float64
	TestBytes   int
}

// LMOneShotPoint is one pruned model: a method, a pattern and a calibration seed.
type LMOneShotPoint struct {
	Method  string `json:"method"`
	Pattern string `json:"pattern"`
	Seed    int64  `json:"calibration_seed"`
	// Sparsity is the fraction of the pruned layers' weights that are zero.
	Sparsity float64 `json:"sparsity"`
	Test     LMScore `json:"test"`
	// Seconds is the time of calibration and pruning (not evaluation).
	Seconds float64               `json:"seconds"`
	Layers  []oneshot.LayerReport `json:"layers"`
	// Heads is the sparsity of each attention head, block by block ([HeadSparsities]).
	Heads []HeadSparsity `json:"heads,omitempty"`
}

// LMOneShotLevel is one method at one pattern over the calibration seeds: means and sample
// standard deviations (0 for one seed).
type LMOneShotLevel struct {
	Method         string  `json:"method"`
	Pattern        string  `json:"pattern"`
	Sparsity       float64 `json:"sparsity"`
	Seeds          int     `json:"seeds"`
	Perplexity     float64 `json:"perplexity"`
	PerplexityStd  float64 `json:"perplexity_std"`
	BitsPerByte    float64 `json:"bits_per_byte"`
	BitsPerByteStd float64 `json:"bits_per_byte_std"`
}

// LMOneShotReport is results.json of a language-model one-shot run.
type LMOneShotReport struct {
	Model    string `json:"model"`
	Backend  string `json:"backend"`
	DenseRun string `json:"dense_run"`
	Corpus   string `json:"corpus"`
	// Calibration windows per seed, of Context bytes.
	Calibration int `json:"calibration"`
	Context     int `json:"context"`
	// Dense and Unigram are the dense model's and the unigram baseline's test scores, on the same
	// bytes as every pruned model's.
	Dense   LMScore `json:"dense"`
	Unigram LMScore `json:"unigram"`
	// Levels are the means over seeds, by method then pattern (in the options' order); Points
	// every pruned model.
	Levels    []LMOneShotLevel `json:"levels"`
	Points    []LMOneShotPoint `json:"points"`
	Seconds   float64          `json:"seconds"`
	GoVersion string           `json:"go_version"`
	Finished  time.Time        `json:"finished"`
}

// Level returns the summary of method at pattern ("0.5", "2:4").
func (r *LMOneShotReport) Level(method, pattern string) (LMOneShotLevel, bool) {
	for _, l := range r.Levels {
		if l.Method == method && l.Pattern == pattern {
			return l, true
		}
	}
	return LMOneShotLevel{}, false
}

// LMOneShotResult is a finished language-model one-shot run: its directory, configuration, report
// (results.json) and the figure files written.
type LMOneShotResult struct {
	Dir    string
	Config LMOneShotConfig
	Report LMOneShotReport
	// Reused says the run directory already held the result: nothing was pruned.
	Reused bool
	Files  []string
}

// lmOneShotPlan is what LMOneShot runs, checked.
type lmOneShotPlan struct {
	methods  []string
	patterns []oneshot.Pattern
	seeds    []int64
	skip     func(string) bool
}

// resolve checks o (an [ErrOptions] naming the flag when wrong) against the model's linear
// layers, without training anything.
func (o *LMOneShotOptions) resolve(cfg models.GPTConfig) (*lmOneShotPlan, error) {
	if len(o.Methods) == 0 {
		o.Methods = slices.Clone(oneshot.Methods)
	}
	if len(o.Sparsities) == 0 && len(o.NM) == 0 {
		o.Sparsities, o.NM = []float64{0.3, 0.5, 0.7}, []string{"2:4"}
	}
	if len(o.Seeds) == 0 {
		o.Seeds = []int64{1, 2, 3}
	}
	if o.Calibration == 0 {
		o.Calibration = 128
	}
	if o.Skip == nil {
		o.Skip = []string{"/embed/**", "/head/**"}
	}
	plan := &lmOneShotPlan{seeds: o.Seeds}
	for _, m := range o.Methods {
		if !slices.Contains(oneshot.Methods, m) {
			return nil, badOptionsf("-methods: unknown method %q (known: %s)", m, strings.Join(oneshot.Methods, ", "))
		}
		if slices.Contains(plan.methods, m) {
			return nil, badOptionsf("-methods: %q given twice", m)
		}
		plan.methods = append(plan.methods, m)
	}
	for _, s := range o.Sparsities {
		p := oneshot.Unstructured(s)
		if p.Validate() != nil || math.IsNaN(s) {
			return nil, badOptionsf("-sparsities: %v is not a sparsity in [0, 1)", s)
		}
		plan.patterns = append(plan.patterns, p)
	}
	for _, s := range o.NM {
		p, err := ParsePattern(s)
		if err != nil || !p.IsNM() {
			return nil, badOptionsf("-nm %q: want N:M with 1 <= N <= M, e.g. 2:4", s)
		}
		plan.patterns = append(plan.patterns, p)
	}
	seen := map[string]bool{}
	for _, p := range plan.patterns {
		if seen[p.String()] {
			return nil, badOptionsf("-sparsities/-nm: pattern %s given twice", p)
		}
		seen[p.String()] = true
	}
	seenSeed := map[int64]bool{}
	for _, s := range o.Seeds {
		if seenSeed[s] {
			return nil, badOptionsf("-seeds: seed %d given twice", s)
		}
		seenSeed[s] = true
	}
	if o.Calibration < 0 {
		return nil, badOptionsf("-calibration %d: want a positive number of windows", o.Calibration)
	}
	if o.SparseGPT.BlockSize < 0 {
		return nil, badOptionsf("-block-size %d: want a positive number of inputs (0: %d)", o.SparseGPT.BlockSize,
			oneshot.DefaultBlockSize)
	}
	for _, s := range o.Skip {
		if _, err := pruning.MatchPattern(s, "/"); err != nil {
			return nil, badOptionsf("-skip %q: %w", s, err)
		}
	}
	plan.skip = func(path string) bool {
		for _, s := range o.Skip {
			if ok, _ := pruning.MatchPattern(s, path); ok {
				return true
			}
		}
		return false
	}
	// The layers, from the untrained model: skip patterns that match none, N:M that does not fit.
	b, err := backend.Default()
	if err != nil {
		return nil, err
	}
	p, err := program.Trace(b, context.New(), cfg.Build, shapes.Make(dtypes.Float32, cfg.Context))
	if err != nil {
		return nil, err
	}
	matched := make([]bool, len(o.Skip))
	pruned := 0
	for _, mm := range p.MatMuls() {
		for i, s := range o.Skip {
			if ok, _ := pruning.MatchPattern(s, mm.Var); ok {
				matched[i] = true
			}
		}
		if plan.skip(mm.Var) {
			continue
		}
		pruned++
		for _, pat := range plan.patterns {
			if pat.IsNM() && mm.K%pat.M != 0 {
				return nil, badOptionsf("-nm %s: layer %s has %d inputs, not a multiple of %d", pat, mm.Var, mm.K, pat.M)
			}
		}
	}
	for i, ok := range matched {
		if !ok {
			return nil, badOptionsf("-skip %q matches no linear layer", o.Skip[i])
		}
	}
	if pruned == 0 {
		return nil, badOptionsf("-skip %s leaves no layer to prune", strings.Join(o.Skip, ","))
	}
	return plan, nil
}

// LMOneShot prunes a trained byte-level language model in one shot, without retraining, with each
// method at each pattern and calibration seed ([oneshot.PruneProgram]: every linear layer of the
// blocks in order, from calibration windows passed through the layers before it, already pruned),
// and measures the test perplexity of each pruned model beside the dense model and the unigram
// baseline. It trains the dense model first ([LMTrain]) unless its run is finished. It writes an
// lm-oneshot-MODEL-HASH run directory: config.json, points/ (each pruned model's result as it
// finishes, so a killed run resumes), results.csv (mean ± std per method and pattern), the figure
// perplexity_vs_sparsity.svg/.png ([LMOneShotReport.Figure]) and results.json, last.
func LMOneShot(o LMOneShotOptions) (*LMOneShotResult, error) {
	start := time.Now()
	o.Dense = o.Dense.withDefaults()
	rc, cfg, err := o.Dense.resolve()
	if err != nil {
		return nil, err
	}
	plan, err := o.resolve(cfg)
	if err != nil {
		return nil, err
	}
	log := logger(o.Dense.Log)
	cfgRun := LMOneShotConfig{Dense: rc, Methods: plan.methods, Seeds: plan.seeds, Calibration: o.Calibration,
		Skip: o.Skip, TestBytes: o.Dense.TestBytes}
	for _, p := range plan.patterns {
		cfgRun.Patterns = append(cfgRun.Patterns, p.String())
	}
	if slices.Contains(plan.methods, "sparsegpt") {
		cfgRun.BlockSize, cfgRun.PercDamp = o.SparseGPT.BlockSize, o.SparseGPT.PercDamp
	}
	run := &LMOneShotResult{Dir: filepath.Join(o.Dense.Out, fmt.Sprintf("lm-oneshot-%s-%s", rc.Model, Hash(cfgRun))),
		Config: cfgRun}
	if !o.Force && readJSON(filepath.Join(run.Dir, ResultsJSONFile), &run.Report) == nil {
		run.Reused = true
		return run, nil
	}
	if o.Force {
		if err := os.RemoveAll(filepath.Join(run.Dir, LMPointsDir)); err != nil {
			return nil, err
		}
	}

	dense, err := LMTrain(o.Dense)
	if err != nil {
		return nil, err
	}
	c := dense.Corpus
	if c == nil {
		if c, err = loadCorpus(o.Dense); err != nil {
			return nil, err
		}
	}
	if dense.Reused {
		fmt.Fprintf(log, "Dense model: %s (reused)\n", dense.Dir)
	}
	m := dense.Model
	b, err := backend.Default()
	if err != nil {
		return nil, err
	}
	r := &run.Report
	*r = LMOneShotReport{Model: rc.Model, Backend: b.Name(), DenseRun: dense.Dir, Corpus: c.Source,
		Calibration: o.Calibration, Context: m.Context(), Dense: dense.Report.Test, Unigram: dense.Report.Unigram}
	fmt.Fprintf(log, "Dense %s: test %s, unigram %s, over %d bytes\n", rc.Model, r.Dense, r.Unigram, r.Dense.Bytes)
	if err := atomicfile.WriteJSON(filepath.Join(run.Dir, ConfigFile), cfgRun); err != nil {
		return nil, err
	}
	test := c.Test[:min(o.Dense.TestBytes, len(c.Test))]
	for _, method := range plan.methods {
		for _, pattern := range plan.patterns {
			var first *LMOneShotPoint
			for _, seed := range plan.seeds {
				pt, err := run.point(b, m, c.Train, test, plan, o, method, pattern, seed, first)
				if err != nil {
					return nil, err
				}
				if first == nil {
					first = pt
				}
				r.Points = append(r.Points, *pt)
				fmt.Fprintf(log, "  %-9s %-4s seed %d: sparsity %.3f, test %s (%.1f s)\n", method, pattern, seed,
					pt.Sparsity, pt.Test, pt.Seconds)
			}
			r.Levels = append(r.Levels, summarize(r.Points[len(r.Points)-len(plan.seeds):]))
		}
	}
	if err := run.writeCSV(); err != nil {
		return nil, err
	}
	fig, err := r.Figure()
	if err != nil {
		return nil, err
	}
	if run.Files, err = report.WriteFigures(run.Dir, []report.Figure{{Name: LMFigureName,
		Title: "perplexity vs sparsity", Figure: fig}}); err != nil {
		return nil, err
	}
	r.Seconds, r.GoVersion, r.Finished = time.Since(start).Seconds(), runtime.Version(), time.Now().UTC()
	return run, atomicfile.WriteJSON(filepath.Join(run.Dir, ResultsJSONFile), r)
}

// point prunes m with method at pattern from seed's calibration windows and evaluates it, or reads
// the point written by an earlier, interrupted run. The magnitude methods read no calibration data: after the
// first seed (first) it copies that result.
func (run *LMOneShotResult) point(b backends.Backend, m *LanguageModel, train, test []byte, plan *lmOneShotPlan,
	o LMOneShotOptions, method string, pattern oneshot.Pattern, seed int64, first *LMOneShotPoint) (*LMOneShotPoint, error) {
	name := fmt.Sprintf("%s-%s-seed%d.json", method, strings.ReplaceAll(pattern.String(), ":", "of"), seed)
	path := filepath.Join(run.Dir, LMPointsDir, name)
	pt := &LMOneShotPoint{}
	if readJSON(path, pt) == nil {
		return pt, nil
	}
	if !oneshot.ReadsCalibration(method) && first != nil {
		*pt = *first
		pt.Seed = seed
		return pt, atomicfile.WriteJSON(path, pt)
	}
	w, err := textdata.NewWindows(train, m.Context(), uint64(seed))
	if err != nil {
		return nil, fmt.Errorf("calibration windows: %w", err)
	}
	calib := lm.Inputs(w.Next(o.Calibration), m.Context())
	start := time.Now()
	pruned, _, layers, err := oneshot.PruneProgram(b, m.Program, m.Values, calib, oneshot.ProgramOptions{
		Method: method, Pattern: pattern, Skip: plan.skip, SparseGPT: o.SparseGPT})
	calib.FinalizeAll()
	if err != nil {
		return nil, err
	}
	*pt = LMOneShotPoint{Method: method, Pattern: pattern.String(), Seed: seed, Seconds: time.Since(start).Seconds(),
		Layers: layers}
	var zeros, total float64
	for _, l := range layers {
		zeros += l.Sparsity * float64(l.In*l.Out)
		total += float64(l.In * l.Out)
	}
	if total > 0 {
		pt.Sparsity = zeros / total
	}
	if cfg, ok := lmModels[m.Name]; ok {
		if pt.Heads, err = HeadSparsities(pruned, cfg.Blocks, cfg.Heads, cfg.Width/cfg.Heads); err != nil {
			return nil, err
		}
	}
	ce, err := m.WithValues(pruned).Evaluate(test)
	if err != nil {
		return nil, err
	}
	pt.Test = lmScore(ce)
	return pt, atomicfile.WriteJSON(path, pt)
}

// summarize is the mean and sample standard deviation of points of one method and pattern.
func summarize(points []LMOneShotPoint) LMOneShotLevel {
	l := LMOneShotLevel{Method: points[0].Method, Pattern: points[0].Pattern, Seeds: len(points)}
	var ppl, bits []float64
	for _, p := range points {
		l.Sparsity += p.Sparsity / float64(len(points))
		ppl, bits = append(ppl, p.Test.Perplexity), append(bits, p.Test.BitsPerByte)
	}
	l.Perplexity, l.PerplexityStd = sampleMeanStd(ppl)
	l.BitsPerByte, l.BitsPerByteStd = sampleMeanStd(bits)
	return l
}

// sampleMeanStd returns the mean of x and its sample standard deviation (n−1; 0 for one value).
func sampleMeanStd(x []float64) (mean, std float64) {
	for _, v := range x {
		mean += v
	}
	mean /= float64(len(x))
	if len(x) < 2 || slices.Min(x) == slices.Max(x) {
		return mean, 0 // equal values: exactly 0, not the rounding error of their mean
	}
	for _, v := range x {
		std += (v - mean) * (v - mean)
	}
	return mean, math.Sqrt(std / float64(len(x)-1))
}

// writeCSV writes results.csv: the dense model, the unigram baseline, then one row per method and
// pattern.
func (run *LMOneShotResult) writeCSV() error {
	r := &run.Report
	return atomicfile.Write(filepath.Join(run.Dir, ResultsCSVFile), func(w io.Writer) error {
		rows := []string{"method,pattern,sparsity,seeds,perplexity,perplexity_std,bits_per_byte,bits_per_byte_std",
			fmt.Sprintf("dense,0,0,1,%.6g,0,%.6g,0", r.Dense.Perplexity, r.Dense.BitsPerByte),
			fmt.Sprintf("unigram,,,1,%.6g,0,%.6g,0", r.Unigram.Perplexity, r.Unigram.BitsPerByte)}
		for _, l := range r.Levels {
			rows = append(rows, fmt.Sprintf("%s,%s,%.6g,%d,%.6g,%.6g,%.6g,%.6g", l.Method, l.Pattern, l.Sparsity, l.Seeds,
				l.Perplexity, l.PerplexityStd, l.BitsPerByte, l.BitsPerByteStd))
		}
		_, err := io.WriteString(w, strings.Join(rows, "\n")+"\n")
		return err
	})
}

// Figure draws the test perplexity against the sparsity of the pruned layers
// ([viz.PerplexityVsSparsity]): one line per method through the dense model (0%) and its
// unstructured levels, with ± std error bars over the calibration seeds; each N:M pattern is a
// marker of its own per method.
func (r *LMOneShotReport) Figure() (viz.Figure, error) {
	var methods []string
	var seeds []int64
	ppl := map[string]float64{} // by method, pattern and seed
	key := func(method, pattern string, seed int64) string { return fmt.Sprintf("%s|%s|%d", method, pattern, seed) }
	for _, p := range r.Points {
		if !slices.Contains(methods, p.Method) {
			methods = append(methods, p.Method)
		}
		if !slices.Contains(seeds, p.Seed) {
			seeds = append(seeds, p.Seed)
		}
		ppl[key(p.Method, p.Pattern, p.Seed)] = p.Test.Perplexity
	}
	perplexity := func(method, pattern string, seed int64) float64 {
		if v, ok := ppl[key(method, pattern, seed)]; ok {
			return v
		}
		return math.NaN()
	}
	var lines, markers []viz.Series
	for _, method := range methods {
		line := viz.Series{Name: method, X: []float64{0}, Y: make([][]float64, len(seeds))}
		for k := range seeds {
			line.Y[k] = []float64{r.Dense.Perplexity}
		}
		var levels []LMOneShotLevel
		for _, l := range r.Levels {
			if l.Method != method {
				continue
			}
			if strings.Contains(l.Pattern, ":") {
				m := viz.Series{Name: method + " " + l.Pattern, X: []float64{100 * l.Sparsity}}
				for _, seed := range seeds {
					m.Y = append(m.Y, []float64{perplexity(method, l.Pattern, seed)})
				}
				markers = append(markers, m)
				continue
			}
			levels = append(levels, l)
		}
		slices.SortStableFunc(levels, func(a, b LMOneShotLevel) int { return cmp.Compare(a.Sparsity, b.Sparsity) })
		for _, l := range levels {
			line.X = append(line.X, 100*l.Sparsity)
			for k, seed := range seeds {
				line.Y[k] = append(line.Y[k], perplexity(method, l.Pattern, seed))
			}
		}
		if len(line.X) > 1 {
			lines = append(lines, line)
		}
	}
	title := fmt.Sprintf("%s pruned in one shot (dense %.2f, unigram %.2f)", r.Model, r.Dense.Perplexity,
		r.Unigram.Perplexity)
	return viz.PerplexityVsSparsity(append(lines, markers...), viz.CurveOptions{Title: title,
		YLabel: "test perplexity (per byte)"})
}

// WriteSummary prints test perplexity (mean ± std over seeds) per pattern and method beside the
// dense model and the unigram baseline, and where the files are.
func (run *LMOneShotResult) WriteSummary(w io.Writer) {
	r := &run.Report
	if run.Reused {
		fmt.Fprintf(w, "prunelab lm oneshot: %s already holds this run's result (-force runs it again).\n", run.Dir)
	}
	fmt.Fprintf(w, "\nResult of %s:\n", run.Dir)
	fmt.Fprintf(w, "%s pruned in one shot, no retraining; test perplexity per byte over %d bytes, mean ± std over "+
		"%d calibration seeds of %d windows:\n", r.Model, r.Dense.Bytes, len(run.Config.Seeds), r.Calibration)
	fmt.Fprintf(w, "  dense %s; unigram %s\n", r.Dense, r.Unigram)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprint(tw, "  pattern\tsparsity")
	for _, m := range run.Config.Methods {
		fmt.Fprintf(tw, "\t%s", m)
	}
	fmt.Fprintln(tw)
	for _, p := range run.Config.Patterns {
		fmt.Fprintf(tw, "  %s", p)
		for i, m := range run.Config.Methods {
			l, _ := r.Level(m, p)
			if i == 0 {
				fmt.Fprintf(tw, "\t%.3f", l.Sparsity)
			}
			fmt.Fprintf(tw, "\t%.2f ± %.2f", l.Perplexity, l.PerplexityStd)
		}
		fmt.Fprintln(tw)
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "Files: %s/ (config.json, results.json, results.csv, %s.svg/.png, points/)\n", run.Dir, LMFigureName)
}
