package pruning

import (
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/checkpoints"
	"github.com/gomlx/gomlx/pkg/ml/train"
	"github.com/gomlx/gomlx/pkg/ml/train/losses"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"
	"github.com/google/go-cmp/cmp"
)

func halfMasks(targets []Target, seed uint64) MaskSet {
	rng := rand.New(rand.NewPCG(seed, 3))
	set := make(MaskSet)
	for _, t := range targets {
		m := NewMask(t.Shape...)
		for i := range m.Keep {
			m.Keep[i] = rng.Float64() >= 0.5
		}
		set[t.Path()] = m
	}
	return set
}

func TestMasksStayZeroUnderAdam(t *testing.T) {
	ctx := newContext()
	b := newBlobs(96, 1)
	tr := newTrainer(t, ctx, mlp, Selector{})
	testMasksStayZero(t, ctx, tr, b)
}

func TestMasksStayZeroOtherOptimizers(t *testing.T) {
	for _, name := range []string{"sgd", "adamw", "rmsprop", "adamax"} {
		t.Run(name, func(t *testing.T) {
			ctx := newContext()
			ctx.SetParam(optimizers.ParamLearningRate, 0.05)
			opt := optimizers.KnownOptimizers[name](ctx)
			tr := train.NewTrainer(backend(t), ctx, WrapTrainModelFn(AsTrainModelFn(mlp), Selector{}),
				losses.SparseCategoricalCrossEntropyLogits, opt, nil, nil)
			b := newBlobs(96, 1)
			trainSteps(t, tr, b, 2)
			if err := SetMasks(ctx, halfMasks(Targets(ctx), 5)); err != nil {
				t.Fatal(err)
			}
			trainSteps(t, tr, b, 10)
			if pruned, nonZero := countPrunedNonZero(t, ctx); pruned == 0 || nonZero != 0 {
				t.Errorf("%d pruned, %d non-zero after training; want > 0 and 0", pruned, nonZero)
			}
		})
	}
}

func testMasksStayZero(t *testing.T, ctx *context.Context, tr *train.Trainer, b *blobs) {
	trainSteps(t, tr, b, 3)

	targets := Targets(ctx)
	type ts struct {
		Path  string
		Shape []int
		Kind  Kind
	}
	var got []ts
	for _, tg := range targets {
		got = append(got, ts{tg.Path(), tg.Shape, tg.Kind})
	}
	want := []ts{{"/fc0/dense/weights", []int{8, 16}, KindDense}, {"/fc1/dense/weights", []int{16, 3}, KindDense}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("Targets (-want +got):\n%s", diff)
	}
	// Masks are non-trainable and all ones.
	masks, err := GetMasks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if masks.NumPruned() != 0 {
		t.Fatalf("fresh masks have %d pruned entries, want 0", masks.NumPruned())
	}
	for _, tg := range targets {
		if m := maskVariable(ctx, tg.Path()); m.Trainable {
			t.Errorf("mask of %s is trainable", tg.Path())
		}
	}

	set := halfMasks(targets, 5)
	if err := SetMasks(ctx, set); err != nil {
		t.Fatal(err)
	}
	pruned, nonZero := countPrunedNonZero(t, ctx)
	if pruned == 0 || nonZero != 0 {
		t.Fatalf("after SetMasks: %d pruned, %d of them non-zero; want >0 and 0", pruned, nonZero)
	}
	before := weightsOf(t, ctx, "/fc0/dense/weights")
	trainSteps(t, tr, b, 20)
	pruned, nonZero = countPrunedNonZero(t, ctx)
	if nonZero != 0 {
		t.Errorf("after 20 Adam steps %d of %d pruned weights are non-zero, want 0", nonZero, pruned)
	}
	after := weightsOf(t, ctx, "/fc0/dense/weights")
	changed := 0
	for i := range after {
		if set["/fc0/dense/weights"].Keep[i] && after[i] != before[i] {
			changed++
		}
	}
	if changed == 0 {
		t.Errorf("no kept weight changed during training")
	}
	if acc := accuracy(t, ctx, mlp, b); acc < 0.9 {
		t.Errorf("accuracy after masked training = %.3f, want >= 0.9", acc)
	}
}

// Without the per-step masking (model not wrapped), Adam's moments revive pruned weights: the
// reason the mechanism exists.
func TestWithoutPerStepMaskingWeightsRevive(t *testing.T) {
	ctx := newContext()
	b := newBlobs(96, 1)
	tr := newTrainer(t, ctx, mlp, Selector{})
	trainSteps(t, tr, b, 3)
	if err := SetMasks(ctx, halfMasks(Targets(ctx), 5)); err != nil {
		t.Fatal(err)
	}
	// A second trainer over the same context, without the wrapper.
	plain := newTrainerUnwrapped(t, ctx.Reuse())
	trainSteps(t, plain, b, 5)
	if _, nonZero := countPrunedNonZero(t, ctx); nonZero == 0 {
		t.Errorf("unwrapped training kept all pruned weights zero; the control should revive some")
	}
}

func TestSetMasksErrors(t *testing.T) {
	ctx := newContext()
	tr := newTrainer(t, ctx, mlp, Selector{})
	trainSteps(t, tr, newBlobs(6, 1), 1)
	tests := []struct {
		name string
		set  MaskSet
		want error
	}{
		{"unknown path", MaskSet{"/nope/weights": NewMask(2, 2)}, nil},
		{"bias has no mask", MaskSet{"/fc0/dense/biases": NewMask(16)}, ErrNoMask},
		{"wrong shape", MaskSet{"/fc0/dense/weights": NewMask(16, 8)}, ErrInvalidMask},
		{"bad entries", MaskSet{"/fc0/dense/weights": {Shape: []int{8, 16}, Keep: make([]bool, 3)}}, ErrInvalidMask},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := SetMasks(ctx, tc.set)
			if err == nil {
				t.Fatal("SetMasks succeeded, want error")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("error %v, want %v", err, tc.want)
			}
		})
	}
}

// Masks travel with GoMLX checkpoints; restored masks come back trainable, and the wrapper marks
// them non-trainable again, so training after a restore keeps the zeros.
func TestMasksInCheckpoints(t *testing.T) {
	dir := t.TempDir()
	ctx := newContext()
	b := newBlobs(96, 1)
	tr := newTrainer(t, ctx, mlp, Selector{})
	trainSteps(t, tr, b, 2)
	if _, err := PruneOnce(ctx, Config{Allocation: Global{}}, Sparsity(0.6)); err != nil {
		t.Fatal(err)
	}
	want, _ := GetMasks(ctx)
	ckpt, err := checkpoints.Build(ctx).Dir(dir).Done()
	if err != nil {
		t.Fatal(err)
	}
	if err := ckpt.Save(); err != nil {
		t.Fatal(err)
	}

	ctx2 := newContext()
	if _, err := checkpoints.Load(ctx2).Dir(dir).Immediate().Done(); err != nil {
		t.Fatal(err)
	}
	got, err := GetMasks(ctx2)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("restored masks (-want +got):\n%s", diff)
	}
	tr2 := newTrainer(t, ctx2.Checked(false), mlp, Selector{}) // variables exist already
	trainSteps(t, tr2, b, 5)
	for _, tg := range Targets(ctx2) {
		if maskVariable(ctx2, tg.Path()).Trainable {
			t.Errorf("restored mask of %s is trainable after the graph was built", tg.Path())
		}
	}
	if _, nonZero := countPrunedNonZero(t, ctx2); nonZero != 0 {
		t.Errorf("%d pruned weights non-zero after training the restored model", nonZero)
	}
}

func TestConvChannelsFirstLayout(t *testing.T) {
	ctx := context.New()
	ctx.SetParam(ParamConvChannelsFirst, true)
	ctx.InAbsPath("/c/conv").VariableWithShape("weights2", shapeOf(5, 3, 2, 2))
	targets, err := SelectTargets(ctx, Selector{Include: []string{"/c/conv/weights2"}})
	if err != nil {
		t.Fatal(err)
	}
	want := []Target{{Scope: "/c/conv", Name: "weights2", Shape: []int{5, 3, 2, 2}, DType: dtypes.Float32,
		Kind: KindConv, In: Axes{1, 2}, Out: Axes{0, 1}}}
	if diff := cmp.Diff(want, targets); diff != "" {
		t.Errorf("targets (-want +got):\n%s", diff)
	}
}
