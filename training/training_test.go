package training

import (
	"math"
	"os"
	"slices"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"
	"github.com/google/go-cmp/cmp"

	"github.com/prunelab/prunelab/backend"
	"github.com/prunelab/prunelab/datasets"
	"github.com/prunelab/prunelab/models"
)

// mnistSmall loads MNIST once and returns small train/validation/test subsets for tiny training budgets.
func mnistSmall(t *testing.T, trainN int) (train, val, test *datasets.Images) {
	t.Helper()
	data, err := datasets.Load("mnist", datasets.Options{})
	if err != nil {
		t.Skipf("MNIST unavailable here: %v", err)
	}
	tr, va, err := data.Train.Split(500, 7)
	if err != nil {
		t.Fatal(err)
	}
	return tr.Subset(trainN), va, data.Test.Subset(1000)
}

func lenet(t *testing.T) models.Model {
	t.Helper()
	m, err := models.ByName("lenet-300-100")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// trainTiny trains LeNet-300-100 for steps on train with the given seed and returns the history.
func trainTiny(t *testing.T, seed int64, steps int, train, val *datasets.Images) (*Session, *Result) {
	t.Helper()
	s, err := NewSession(Config{Model: lenet(t), Seed: seed, EvalEvery: steps / 2, EvalAtStart: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetTrainData(train); err != nil {
		t.Fatal(err)
	}
	res, err := s.Train(Length{Steps: steps}, EvalSet{Name: "validation", Images: val})
	if err != nil {
		t.Fatal(err)
	}
	return s, res
}

func TestSameSeedSameNumbers(t *testing.T) {
	train, val, _ := mnistSmall(t, 1200)
	_, a := trainTiny(t, 1, 20, train, val)
	_, b := trainTiny(t, 1, 20, train, val)
	_, c := trainTiny(t, 2, 20, train, val)
	if len(a.History) != 3 {
		t.Fatalf("history has %d points, want 3 (steps 0, 10, 20): %+v", len(a.History), a.History)
	}
	if diff := cmp.Diff(a.History, b.History); diff != "" {
		t.Errorf("same seed, different metrics (-first +second):\n%s", diff)
	}
	if cmp.Equal(a.History[1:], c.History[1:]) {
		t.Errorf("seeds 1 and 2 gave identical metrics: %+v", a.History)
	}
}

func TestTrainingLearnsAndTracksEarlyStop(t *testing.T) {
	train, val, test := mnistSmall(t, 6000)
	s, err := NewSession(Config{Model: lenet(t), Seed: 3, EvalEvery: 50})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetTrainData(train); err != nil {
		t.Fatal(err)
	}
	if got := s.StepsPerEpoch(); got != 100 {
		t.Errorf("StepsPerEpoch = %d, want 6000/60 = 100", got)
	}
	hooked := 0
	s.OnStep(func(step int) error { hooked = step; return nil })
	res, err := s.Train(MustParseLength("2ep"), EvalSet{"validation", val}, EvalSet{"test", test})
	if err != nil {
		t.Fatal(err)
	}
	if res.Steps != 200 || s.Step() != 200 || hooked != 200 {
		t.Errorf("ran %d steps (session %d, hook saw %d), want 200", res.Steps, s.Step(), hooked)
	}
	if acc := res.Final["test"].Accuracy; acc < 0.85 {
		t.Errorf("test accuracy after 200 steps on 6,000 images = %.3f, want >= 0.85", acc)
	}
	if n := len(res.History.Split("validation")); n != 4 {
		t.Errorf("validation evaluated %d times, want 4 (every 50 steps)", n)
	}
	step, ok := res.History.EarlyStopStep("validation")
	best := math.Inf(1)
	for _, p := range res.History.Split("validation") {
		best = math.Min(best, p.Loss)
	}
	if at, _ := res.History.At("validation", step); !ok || at.Loss != best {
		t.Errorf("EarlyStopStep = %d (%v), loss %g, want the minimum %g", step, ok, at.Loss, best)
	}
}

func TestCheckpointRoundTrip(t *testing.T) {
	train, val, _ := mnistSmall(t, 600)
	s, _ := trainTiny(t, 5, 10, train, val)
	want, err := s.Evaluate(val)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := s.Save(dir, 1); err != nil {
		t.Fatal(err)
	}
	r, err := NewSession(Config{Model: lenet(t), Seed: 99})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Load(dir); err != nil {
		t.Fatal(err)
	}
	got, err := r.Evaluate(val)
	if err != nil {
		t.Fatal(err)
	}
	if got != want || r.Step() != 10 {
		t.Errorf("restored session: %+v at step %d, want %+v at step 10", got, r.Step(), want)
	}
	if err := r.Load(dir + "/missing"); err == nil {
		t.Error("Load of a missing directory succeeded")
	}
}

func TestLRScheduleDrivesTheOptimizer(t *testing.T) {
	train, val, _ := mnistSmall(t, 600)
	s, err := NewSession(Config{Model: lenet(t), Seed: 1, LRSchedule: StepDecayLR{Base: 1e-3, Gamma: 0.5, Milestones: []int{3, 6}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetTrainData(train); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Train(Length{Steps: 7}, EvalSet{"validation", val}); err != nil {
		t.Fatal(err)
	}
	v := s.Context().GetVariableByScopeAndName("/"+optimizers.Scope, optimizers.ParamLearningRate)
	if v == nil {
		t.Fatal("no learning-rate variable")
	}
	lr, err := v.Value()
	if err != nil {
		t.Fatal(err)
	}
	got := shapes.ConvertTo[float64](lr.Value())
	if math.Abs(got-0.25e-3) > 1e-9 {
		t.Errorf("learning rate after 7 steps = %g, want 2.5e-4 (halved at steps 3 and 6)", got)
	}
}

func TestSGDMomentumUpdate(t *testing.T) {
	b, err := backend.Default()
	if err != nil {
		t.Fatal(err)
	}
	for _, nesterov := range []bool{false, true} {
		ctx := context.New()
		w := ctx.VariableWithValue("w", []float32{1, 2})
		c := []float32{0.5, -1}
		opt := SGDMomentum{LearningRate: 0.1, Momentum: 0.9, WeightDecay: 0.01, Nesterov: nesterov}
		exec, err := context.NewExec(b, ctx, func(ctx *context.Context, g *graph.Graph) *graph.Node {
			loss := graph.ReduceAllSum(graph.Mul(w.ValueGraph(g), graph.Const(g, c)))
			opt.UpdateGraph(ctx, g, loss)
			return loss
		})
		if err != nil {
			t.Fatal(err)
		}
		// PyTorch's torch.optim.SGD, by hand: g = c + wd·w; b = μ·b + g; step = nesterov ? g + μ·b : b.
		want := []float64{1, 2}
		buf := []float64{0, 0}
		for step := 0; step < 3; step++ {
			if _, err := exec.Exec(); err != nil {
				t.Fatal(err)
			}
			for i := range want {
				g := float64(c[i]) + 0.01*want[i]
				buf[i] = 0.9*buf[i] + g
				d := buf[i]
				if nesterov {
					d = g + 0.9*buf[i]
				}
				want[i] -= 0.1 * d
			}
		}
		wt, err := w.Value()
		if err != nil {
			t.Fatal(err)
		}
		got := tensors.MustCopyFlatData[float32](wt)
		for i := range want {
			if math.Abs(float64(got[i])-want[i]) > 1e-6 {
				t.Errorf("nesterov=%v: w[%d] = %g, want %g", nesterov, i, got[i], want[i])
			}
		}
		if err := opt.Clear(ctx); err != nil {
			t.Errorf("Clear: %v", err)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	for _, cfg := range []Config{
		{},
		{Model: models.Model{Name: "x", Build: models.LeNet300100}, Optimizer: "adagrad"},
		{Model: models.Model{Name: "x", Build: models.LeNet300100}, BatchSize: -1},
	} {
		if _, err := NewSession(cfg); err == nil {
			t.Errorf("NewSession(%+v) succeeded", cfg)
		}
	}
}

func TestMain(m *testing.M) {
	if os.Getenv(backend.EnvBackend) == "" {
		// Tests run on the pure-Go backend unless told otherwise, and quietly.
		os.Setenv(backend.EnvBackend, backend.PureGo)
	}
	os.Exit(m.Run())
}

// TestSaveAgainKeepsTheSession saves a session, trains it further and saves it into the same
// directory: the session keeps its trained values (GoMLX's checkpoint handler would load the older
// checkpoint over them), and loading the directory gives the newer state.
func TestSaveAgainKeepsTheSession(t *testing.T) {
	train, val, _ := mnistSmall(t, 600)
	s, _ := trainTiny(t, 7, 4, train, val)
	dir := t.TempDir()
	if err := s.Save(dir, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Train(Length{Steps: 6}); err != nil {
		t.Fatal(err)
	}
	want, err := s.Evaluate(val)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Save(dir, 2); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Evaluate(val); err != nil || got != want || s.Step() != 10 {
		t.Errorf("after saving again: %+v at step %d (err %v), want %+v at step 10", got, s.Step(), err, want)
	}
	r, err := NewSession(Config{Model: lenet(t), Seed: 99})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Load(dir); err != nil {
		t.Fatal(err)
	}
	if got, err := r.Evaluate(val); err != nil || got != want || r.Step() != 10 {
		t.Errorf("loaded: %+v at step %d (err %v), want %+v at step 10", got, r.Step(), err, want)
	}
}

// TestScheduleAppliesFromTheFirstStep changes what a schedule returns between two calls of Train:
// the first step of the second call already runs at the new rate. Two SGD sessions from the same
// seed end with the same weights when one schedule switches its rate between the calls and the
// other is the per-step schedule giving the same rates.
func TestScheduleAppliesFromTheFirstStep(t *testing.T) {
	train, _, _ := mnistSmall(t, 600)
	run := func(schedule LRSchedule, between func()) []float32 {
		s, err := NewSession(Config{Model: lenet(t), Seed: 3, Optimizer: "sgd", LRSchedule: schedule})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.SetTrainData(train); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Train(Length{Steps: 2}); err != nil {
			t.Fatal(err)
		}
		between()
		if _, err := s.Train(Length{Steps: 2}); err != nil {
			t.Fatal(err)
		}
		var weights []float32
		for v := range s.Context().IterVariables() {
			if v.Name() == "weights" {
				weights = append(weights, tensors.MustCopyFlatData[float32](v.MustValue())...)
			}
		}
		return weights
	}
	switched := false
	got := run(LRFunc(func(int) float64 {
		if switched {
			return 0.02
		}
		return 0.5
	}), func() { switched = true })
	want := run(LRFunc(func(step int) float64 {
		if step >= 2 {
			return 0.02
		}
		return 0.5
	}), func() {})
	if len(want) == 0 || !slices.Equal(got, want) {
		t.Errorf("weights differ (%d vs %d values): the first step after the switch did not use the new rate", len(got), len(want))
	}
}
