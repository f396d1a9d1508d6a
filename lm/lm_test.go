package lm_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/google/go-cmp/cmp"

	"github.com/prunelab/prunelab/backend"
	"github.com/prunelab/prunelab/lm"
	"github.com/prunelab/prunelab/models"
	"github.com/prunelab/prunelab/oneshot"
	"github.com/prunelab/prunelab/program"
	"github.com/prunelab/prunelab/textdata"
)

func TestMain(m *testing.M) {
	if os.Getenv(backend.EnvBackend) == "" {
		// Tests run on the pure-Go backend unless told otherwise (see models' TestMain).
		os.Setenv(backend.EnvBackend, backend.PureGo)
	}
	os.Exit(m.Run())
}

// small is a GPT small enough to train in a test: 12,000 parameters.
var small = lm.GPT("gpt-small-test", models.GPTConfig{Context: 16, Width: 32, Heads: 2, MLP: 64, Blocks: 1})

// constantModel predicts the same next-byte logits at every position.
func constantModel(window int, logits []float32) lm.Model {
	return lm.Model{Name: "constant", Context: window, Build: func(_ *context.Context, x *graph.Node) *graph.Node {
		dims := x.Shape().Dimensions
		c := graph.Reshape(graph.Const(x.Graph(), logits), 1, 1, len(logits))
		return graph.BroadcastToDims(c, dims[0], dims[1], len(logits))
	}}
}

func TestEvaluateConstantModel(t *testing.T) {
	// 151 bytes, windows of 3+1: 50 windows (two batches, 32 and 18) score bytes 1..150, which hold
	// 100 'a' and 50 'b'.
	text := []byte(strings.Repeat("aab", 50) + "a")
	logits := make([]float32, 256)
	for i := range logits {
		logits[i] = float32(math.Log(0.25 / 254))
	}
	logits['a'], logits['b'] = float32(math.Log(0.5)), float32(math.Log(0.25))
	// By hand: (100·1 + 50·2) / 150 = 4/3 bits per byte, perplexity 2^(4/3).
	for _, tc := range []struct {
		name   string
		logits []float32
		bits   float64
	}{
		{"a:½ b:¼", logits, 4.0 / 3},
		{"uniform", make([]float32, 256), 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ce, err := lm.Evaluate(context.New(), constantModel(3, tc.logits), text)
			if err != nil {
				t.Fatal(err)
			}
			if ce.Bytes != 150 || math.Abs(ce.BitsPerByte()-tc.bits) > 1e-5 ||
				math.Abs(ce.Perplexity()-math.Exp2(tc.bits)) > 1e-4*math.Exp2(tc.bits) ||
				math.Abs(ce.NatsPerByte-tc.bits*math.Ln2) > 1e-5 {
				t.Errorf("Evaluate = %v (%.7f nats/byte), want %.7f bits/byte over 150 bytes", ce, ce.NatsPerByte, tc.bits)
			}
		})
	}
	if _, err := lm.Evaluate(context.New(), constantModel(3, logits), []byte("aab")); !errors.Is(err, textdata.ErrTooShort) {
		t.Errorf("Evaluate(3 bytes, context 3) error = %v, want ErrTooShort", err)
	}
}

// words returns n bytes of seeded random words from a small vocabulary: text with structure a
// model learns in a few dozen steps.
func words(n int, seed uint64) []byte {
	vocab := strings.Fields("func return if else for range var type struct map string int err nil := { } ( ) \n")
	rng := rand.New(rand.NewPCG(seed, 2))
	var b strings.Builder
	for b.Len() < n {
		b.WriteString(vocab[rng.IntN(len(vocab))])
		b.WriteByte(' ')
	}
	return []byte(b.String()[:n])
}

func TestTrainLossFalls(t *testing.T) {
	res, err := lm.Train(lm.Config{Model: small, Train: words(20000, 1), Validation: words(2000, 2),
		Steps: 40, BatchSize: 16, LearningRate: 3e-3, EvalEvery: 10, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Curve) != 4 || res.Curve[3].Step != 40 || res.Steps != 40 {
		t.Fatalf("curve %+v, want points at steps 10, 20, 30, 40", res.Curve)
	}
	first, last := res.Curve[0], res.Curve[3]
	t.Logf("train %.3f → %.3f nats/byte, validation %v → %v", first.TrainLoss, last.TrainLoss, first.Validation, last.Validation)
	if !(last.TrainLoss < 0.75*first.TrainLoss) || !(last.Validation.NatsPerByte < 0.75*first.Validation.NatsPerByte) {
		t.Errorf("loss did not fall: train %.3f → %.3f, validation %v → %v", first.TrainLoss, last.TrainLoss,
			first.Validation, last.Validation)
	}
	if res.Final != last.Validation || last.Validation.Bytes != 1984 {
		t.Errorf("Final %v, last point %v over %d bytes, want 124 windows of 16", res.Final, last.Validation, last.Validation.Bytes)
	}
	// Evaluate on the trained variables agrees with the last point.
	ce, err := lm.Evaluate(res.Context, res.Model, words(2000, 2))
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(ce.NatsPerByte-last.Validation.NatsPerByte) > 1e-6 {
		t.Errorf("Evaluate after training %v, last point %v", ce, last.Validation)
	}
}

// TestBelowUnigram trains on a tiny repetitive text and checks the model beats the unigram
// baseline by far on other repetitions of it; then prunes the traced model one-shot (the path a
// pruning driver takes) and evaluates the pruned program.
func TestBelowUnigram(t *testing.T) {
	sentence := "the quick brown fox jumps over the lazy dog; "
	train := []byte(strings.Repeat(sentence, 200))
	valid := []byte(strings.Repeat(sentence, 40)[7:])
	res, err := lm.Train(lm.Config{Model: small, Train: train, Validation: valid, Steps: 100, BatchSize: 16,
		LearningRate: 3e-3, Cosine: true, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	base := textdata.Unigram(train).CrossEntropy(valid[1 : res.Final.Bytes+1]) // the bytes Evaluate scored
	t.Logf("after 100 steps: model %v, unigram %v", res.Final, base)
	if !(res.Final.Perplexity() < base.Perplexity()/2) {
		t.Errorf("after 100 steps: model %v, unigram %v", res.Final, base)
	}

	// One-shot pruning of the traced model: trace Build (all positions), calibrate on windows.
	b, err := backend.Default()
	if err != nil {
		t.Fatal(err)
	}
	cfg := models.GPTConfig{Context: 16, Width: 32, Heads: 2, MLP: 64, Blocks: 1}
	p, err := program.Trace(b, res.Context, cfg.Build, shapes.Make(dtypes.Float32, cfg.Context))
	if err != nil {
		t.Fatal(err)
	}
	values, err := p.Values(res.Context)
	if err != nil {
		t.Fatal(err)
	}
	windows := textdata.SequentialWindows(train, cfg.Context)[:32]
	pruned, _, layers, err := oneshot.PruneProgram(b, p, values, lm.Inputs(windows, cfg.Context), oneshot.ProgramOptions{
		Method: "wanda", Pattern: oneshot.Unstructured(0.5),
		Skip: func(path string) bool { return strings.HasPrefix(path, "/embed/") }})
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 7 || layers[0].Rows != 32*16 {
		t.Errorf("pruned layers %+v, want q, k, v, out, up, down and head from 512 rows each", layers)
	}
	pctx, err := p.NewContext(pruned)
	if err != nil {
		t.Fatal(err)
	}
	ce, err := lm.Evaluate(pctx, lm.Model{Name: "pruned", Context: cfg.Context, Build: p.Build}, valid)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("pruned 50%% (Wanda, embedding dense): %v", ce)
	if math.IsNaN(ce.NatsPerByte) || ce.NatsPerByte < res.Final.NatsPerByte-0.05 || ce.Bytes != res.Final.Bytes {
		t.Errorf("pruned 50%%: %v, dense %v", ce, res.Final)
	}
}

func TestTrainIsReproducible(t *testing.T) {
	run := func(seed int64) []lm.Point {
		res, err := lm.Train(lm.Config{Model: small, Train: words(5000, 1), Validation: words(500, 2),
			Steps: 4, BatchSize: 4, EvalEvery: 2, Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		return res.Curve
	}
	a, b, other := run(7), run(7), run(8)
	if diff := cmp.Diff(a, b); diff != "" {
		t.Errorf("seed 7 twice (-first +second):\n%s", diff)
	}
	if cmp.Equal(a, other) {
		t.Error("seeds 7 and 8 gave the same curve")
	}
}

func TestLearningRateAt(t *testing.T) {
	cosine := lm.Config{Steps: 12, LearningRate: 1e-3, Warmup: 1, Cosine: true}
	for _, tc := range []struct {
		name string
		cfg  lm.Config
		step int
		want float64
	}{
		{"default", lm.Config{Steps: 10}, 0, 1e-3},
		{"constant", lm.Config{Steps: 10, LearningRate: 0.01}, 9, 0.01},
		{"warm-up first", lm.Config{Steps: 10, LearningRate: 0.01, Warmup: 4}, 0, 0.0025},
		{"warm-up last", lm.Config{Steps: 10, LearningRate: 0.01, Warmup: 4}, 3, 0.01},
		{"warm-up done", lm.Config{Steps: 10, LearningRate: 0.01, Warmup: 4}, 4, 0.01},
		{"cosine start", cosine, 1, 1e-3},
		{"cosine middle", cosine, 6, 5.5e-4},
		{"cosine end", cosine, 11, 1e-4},
		{"cosine minimum", lm.Config{Steps: 3, LearningRate: 1, MinLearningRate: 0.5, Cosine: true}, 2, 0.5},
	} {
		if got := tc.cfg.LearningRateAt(tc.step); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("%s: LearningRateAt(%d) = %g, want %g", tc.name, tc.step, got, tc.want)
		}
	}
}

func TestTrainErrors(t *testing.T) {
	text := words(1000, 1)
	for _, tc := range []struct {
		name string
		cfg  lm.Config
		want string
		is   error
	}{
		{"no steps", lm.Config{Model: small, Train: text}, "Steps must be positive", nil},
		{"negative rate", lm.Config{Model: small, Train: text, Steps: 1, LearningRate: -1}, "learning rates", nil},
		{"short train", lm.Config{Model: small, Train: text[:16], Steps: 1}, "training text", textdata.ErrTooShort},
		{"short validation", lm.Config{Model: small, Train: text, Validation: text[:10], Steps: 1}, "validation text", textdata.ErrTooShort},
		{"no model context", lm.Config{Model: lm.Model{Name: "x", Build: small.Build}, Train: text, Steps: 1}, "Context must be positive", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := lm.Train(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) || (tc.is != nil && !errors.Is(err, tc.is)) {
				t.Errorf("Train error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}
