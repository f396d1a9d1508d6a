package pruning

import (
	"math"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/layers"
	"github.com/gomlx/gomlx/pkg/ml/train"
	"github.com/gomlx/gomlx/pkg/ml/train/losses"
)

// TestDriverEndToEnd trains the MLP with train.Trainer and Adam while a Driver prunes it
// gradually, then checks sparsity per update, zeros after more Adam steps and accuracy.
func TestDriverEndToEnd(t *testing.T) {
	tests := []struct {
		name     string
		schedule Schedule
		cfg      Config
	}{
		{"polynomial global magnitude", Polynomial{Final: 0.8, Begin: 10, End: 60, Frequency: 10},
			Config{Allocation: Global{}}},
		{"iterative layerwise magnitude", NewIterative(20, 20, 3, 0.75), Config{}},
		{"one shot neurons", OneShot{Step: 30, Sparsity: 0.5}, Config{Structure: OutputChannels{}, Skip: []string{"/fc1/**"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := newContext()
			b := newBlobs(96, 1)
			tr := newTrainer(t, ctx, mlp, Selector{})
			d := NewDriver(ctx, tc.schedule, tc.cfg)
			const steps = 100
			for step := 1; step <= steps; step++ {
				trainSteps(t, tr, b, 1)
				updated, err := d.AfterStep(step)
				if err != nil {
					t.Fatal(err)
				}
				if updated != tc.schedule.IsUpdateStep(step) {
					t.Fatalf("step %d: updated=%v, schedule says %v", step, updated, tc.schedule.IsUpdateStep(step))
				}
			}
			for i, res := range d.History() {
				step := UpdateSteps(tc.schedule, 1, steps)[i]
				want := tc.schedule.SparsityAt(step)
				wantPruned := int(math.Round(want * float64(res.Size)))
				if _, ok := tc.cfg.Structure.(OutputChannels); ok {
					// Neurons of fc0 come in groups of 8 weights: 8 of 16 neurons.
					wantPruned = 64
				}
				if res.PrunedAfter != wantPruned {
					t.Errorf("update at step %d: %d of %d pruned, want %d (sparsity %g)", step, res.PrunedAfter,
						res.Size, wantPruned, want)
				}
			}
			if pruned, nonZero := countPrunedNonZero(t, ctx); pruned == 0 || nonZero != 0 {
				t.Errorf("after training: %d pruned weights, %d non-zero; want > 0 and 0", pruned, nonZero)
			}
			if acc := accuracy(t, ctx, mlp, b); acc < 0.9 {
				t.Errorf("accuracy %.3f, want >= 0.9", acc)
			}
		})
	}
}

// linearModel is x·W with W in /lin/dense/weights (no bias).
func linearModel(ctx *context.Context, x *graph.Node) *graph.Node {
	return layers.Dense(ctx.In("lin"), x, false, 2)
}

// fixedBatch yields the same float64 regression batch every time.
type fixedBatch struct{ x, y [][]float64 }

func (d fixedBatch) Name() string { return "fixed" }
func (d fixedBatch) Reset()       {}
func (d fixedBatch) Yield() (any, []*tensors.Tensor, []*tensors.Tensor, error) {
	return nil, []*tensors.Tensor{tensors.FromValue(d.x)}, []*tensors.Tensor{tensors.FromValue(d.y)}, nil
}

// TestDatasetGradients checks DatasetGradients against the analytic gradient of a linear model
// under mean squared error: dL/dW = 2/(B·O) · Xᵀ(XW − Y).
func TestDatasetGradients(t *testing.T) {
	ctx := context.New()
	w := [][]float64{{0.5, -1}, {2, 0.25}, {-0.75, 1.5}}
	ctx.InAbsPath("/lin/dense").VariableWithValue("weights", w)
	data := fixedBatch{
		x: [][]float64{{1, 2, 3}, {-1, 0.5, 2}, {0, 1, -1}, {2, -2, 0.5}},
		y: [][]float64{{1, 0}, {0, 1}, {-1, 2}, {0.5, 0.5}},
	}
	src := NewDatasetGradients(backend(t), ctx, WrapTrainModelFn(AsTrainModelFn(linearModel), Selector{}),
		losses.MeanSquaredError, data)
	got, err := src.Gradients([]string{"/lin/dense/weights"})
	if err != nil {
		t.Fatal(err)
	}
	const B, O = 4, 2
	want := make([]float64, 6)
	for b := range B {
		for o := range O {
			pred := 0.0
			for i := range 3 {
				pred += data.x[b][i] * w[i][o]
			}
			r := pred - data.y[b][o]
			for i := range 3 {
				want[i*O+o] += 2 * data.x[b][i] * r / (B * O)
			}
		}
	}
	for i := range want {
		if math.Abs(got["/lin/dense/weights"][i]-want[i]) > 1e-12 {
			t.Fatalf("gradient %v, want %v", got["/lin/dense/weights"], want)
		}
	}

	// SNIP scores: |w·g| normalized to sum 1; Taylor: |w·g| (one batch).
	flatW := []float64{0.5, -1, 2, 0.25, -0.75, 1.5}
	snip, err := ComputeScores(ctx, Config{Criterion: SNIPCriterion{}, Gradients: src})
	if err != nil {
		t.Fatal(err)
	}
	taylor, err := ComputeScores(ctx, Config{Criterion: TaylorCriterion{}, Gradients: src, GradientBatches: 3})
	if err != nil {
		t.Fatal(err)
	}
	movement, err := ComputeScores(ctx, Config{Criterion: MovementCriterion{}, Gradients: src, GradientBatches: 2})
	if err != nil {
		t.Fatal(err)
	}
	total := 0.0
	for i := range want {
		total += math.Abs(flatW[i] * want[i])
	}
	for i := range want {
		wg := flatW[i] * want[i]
		checks := []struct {
			name      string
			got, want float64
		}{
			{"snip", snip["/lin/dense/weights"][i], math.Abs(wg) / total},
			{"taylor", taylor["/lin/dense/weights"][i], math.Abs(wg)},
			{"movement", movement["/lin/dense/weights"][i], -2 * wg},
		}
		for _, c := range checks {
			if math.Abs(c.got-c.want) > 1e-12 {
				t.Errorf("%s score[%d] = %g, want %g", c.name, i, c.got, c.want)
			}
		}
	}
}

// TestDriverGradientCriteria runs SNIP one-shot at initialization, then movement pruning with
// per-step accumulation and regrowth, through train.Trainer with Adam.
func TestDriverGradientCriteria(t *testing.T) {
	ctx := newContext()
	b := newBlobs(96, 1)
	tr := newTrainer(t, ctx, mlp, Selector{})
	trainSteps(t, tr, b, 1) // creates variables and masks
	modelFn := WrapTrainModelFn(AsTrainModelFn(mlp), Selector{})
	src := NewDatasetGradients(backend(t), ctx, modelFn, losses.SparseCategoricalCrossEntropyLogits, fullBatch{b})

	res, err := PruneOnce(ctx, Config{Criterion: SNIPCriterion{}, Gradients: src, Allocation: Global{}}, Sparsity(0.5))
	if err != nil {
		t.Fatal(err)
	}
	if res.PrunedAfter != int(math.Round(0.5*float64(res.Size))) {
		t.Errorf("SNIP pruned %d of %d, want half", res.PrunedAfter, res.Size)
	}

	d := NewDriver(ctx, Polynomial{Initial: 0.5, Final: 0.7, Begin: 10, End: 30, Frequency: 10},
		Config{Criterion: MovementCriterion{}, Gradients: src, Regrow: true})
	d.AccumulateEvery = 2
	for step := 1; step <= 40; step++ {
		trainSteps(t, tr, b, 1)
		if _, err := d.AfterStep(step); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(d.History()); n != 3 {
		t.Fatalf("%d updates, want 3", n)
	}
	last := d.History()[2]
	if want := int(math.Round(0.7*128)) + int(math.Round(0.7*48)); last.PrunedAfter != want {
		t.Errorf("final movement pruning: %d pruned, want %d", last.PrunedAfter, want)
	}
	if _, nonZero := countPrunedNonZero(t, ctx); nonZero != 0 {
		t.Errorf("%d pruned weights non-zero", nonZero)
	}
	if acc := accuracy(t, ctx, mlp, b); acc < 0.9 {
		t.Errorf("accuracy %.3f, want >= 0.9", acc)
	}
}

var _ train.Dataset = fixedBatch{}
