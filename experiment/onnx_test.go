package experiment_test

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/prunelab/prunelab/experiment"
	"github.com/prunelab/prunelab/internal/peers"
	"github.com/prunelab/prunelab/onnxmodel"
	"github.com/prunelab/prunelab/pruning"
)

// TestPruneONNX: the PyTorch-trained LeNet-300-100, imported, pruned to 90% by global magnitude
// and fine-tuned through the same flow as a registered model, is written back as ONNX; ONNX
// Runtime then measures on the test images the accuracy Prunelab measured, and the file's
// pruned weights are exactly the masked ones.
func TestPruneONNX(t *testing.T) {
	dir := peers.TorchModels(t, "lenet")
	meta := peers.ReadMeta(t, dir, "lenet")
	out := t.TempDir()
	run, err := experiment.Prune(experiment.PruneOptions{
		Dense:    experiment.DenseOptions{ONNX: filepath.Join(dir, "lenet.onnx"), Out: out, TestLimit: 2000},
		Schedule: experiment.ScheduleSettings{Schedule: "oneshot", Sparsity: 0.9, Finetune: "60it"},
		ONNXInt8: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	res := run.Result
	if res.ONNX == "" || !strings.HasPrefix(filepath.Base(run.Dir), "prune-onnx-lenet-") {
		t.Fatalf("run %s wrote no ONNX file (result %+v)", run.Dir, res)
	}
	if d := res.Dense.Accuracy - meta.TestAccuracy; d > 0.02 || d < -0.02 {
		t.Errorf("dense accuracy %.4f on 2000 test images, PyTorch measured %.4f on 10000", res.Dense.Accuracy,
			meta.TestAccuracy)
	}
	if res.Sparsity < 0.89 || res.PrunedNonZero != 0 {
		t.Errorf("sparsity %.3f, %d pruned weights non-zero", res.Sparsity, res.PrunedNonZero)
	}

	split, err := experiment.LoadData(experiment.DataOptions{Dataset: "mnist", TestLimit: 2000})
	if err != nil {
		t.Fatal(err)
	}
	ort := peers.ORTAccuracy(t, res.ONNX, split.Test)
	ours := res.Final["test"].Accuracy
	t.Logf("test accuracy: Prunelab %.4f, ONNX Runtime %.4f (dense %.4f, PyTorch %.4f)", ours, ort,
		res.Dense.Accuracy, meta.TestAccuracy)
	if d := ort - ours; d > 1e-4 || d < -1e-4 {
		t.Errorf("ONNX Runtime measures %.4f, Prunelab %.4f", ort, ours)
	}
	// The INT8 file: a quarter of the size, about the same accuracy in ONNX Runtime.
	int8Acc := peers.ORTAccuracy(t, res.ONNXInt8, split.Test)
	t.Logf("INT8 weights: ONNX Runtime %.4f", int8Acc)
	if d := int8Acc - ours; d > 0.005 || d < -0.005 {
		t.Errorf("INT8 model: %.4f in ONNX Runtime, float %.4f", int8Acc, ours)
	}
	if a, b := peers.FileSize(t, res.ONNXInt8), peers.FileSize(t, res.ONNX); float64(a) > 0.3*float64(b) {
		t.Errorf("INT8 file %d bytes, float %d", a, b)
	}

	masks, err := pruning.LoadMasks(filepath.Join(run.Dir, experiment.MasksFile))
	if err != nil {
		t.Fatal(err)
	}
	m, weights, err := onnxmodel.ReadWeights(res.ONNX)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range m.Layers {
		w := weights[l.Path]
		keep := masks[l.Path].Keep
		for i := range w {
			if (w[i] == 0) == keep[i] {
				t.Fatalf("%s[%d] = %g where the mask says keep=%v", l.Initializer, i, w[i], keep[i])
			}
		}
	}
}

// TestCompactONNX: the flow behind "prunelab compact -onnx": resnet18 with 50% of its channels
// removed, written, re-checked; and what it refuses.
func TestCompactONNX(t *testing.T) {
	dir := peers.TorchModels(t, "resnet18")
	in := filepath.Join(dir, "resnet18.onnx")
	out := filepath.Join(t.TempDir(), "r18.onnx")
	if _, err := experiment.CompactONNX(experiment.CompactONNXOptions{File: in, Out: out, Sparsity: 0.5}); !errors.Is(err, experiment.ErrOptions) ||
		!strings.Contains(err.Error(), "-input-shape") {
		t.Errorf("dynamic input without -input-shape: %v", err)
	}
	res, err := experiment.CompactONNX(experiment.CompactONNXOptions{File: in, Out: out, Sparsity: 0.5,
		InputShape: []int{3, 32, 32}})
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	res.WriteSummary(&sb)
	t.Log(sb.String())
	if res.Report.Speedup < 3 || res.OutBytes > res.FileBytes/3 {
		t.Errorf("speedup %.2f, %d → %d bytes", res.Report.Speedup, res.FileBytes, res.OutBytes)
	}
	if _, err := experiment.CompactONNX(experiment.CompactONNXOptions{File: in, Sparsity: 1}); !errors.Is(err, experiment.ErrOptions) {
		t.Errorf("sparsity 1: %v", err)
	}
	if _, err := experiment.Prune(experiment.PruneOptions{Dense: experiment.DenseOptions{ONNX: in, Out: t.TempDir()}}); !errors.Is(err, onnxmodel.ErrInputShape) ||
		!errors.Is(err, experiment.ErrOptions) {
		t.Errorf("resnet18 on MNIST: %v, want an options error wrapping ErrInputShape", err)
	}
}

// TestONNXFlows: an imported model goes through the other flows like a registered one — N:M and
// neuron structures with a gradient criterion, sensitivity analysis, one-shot SparseGPT — with its
// layouts ([out, in] Gemm weights) respected.
func TestONNXFlows(t *testing.T) {
	dir := peers.TorchModels(t, "lenet")
	dense := experiment.DenseOptions{ONNX: filepath.Join(dir, "lenet.onnx"), Out: t.TempDir(), TestLimit: 500,
		Validation: 500, TrainLimit: 3000}
	for _, tc := range []struct {
		structure, criterion string
		check                func(t *testing.T, masks pruning.MaskSet)
	}{
		{"2:4", "taylor", func(t *testing.T, masks pruning.MaskSet) {
			// 2:4 along each output's inputs: Gemm's [out, in] rows, in groups of 4 consecutive inputs.
			m := masks["/ONNX/fc1.weight"]
			for g := 0; g < len(m.Keep); g += 4 {
				if kept := b2i(m.Keep[g]) + b2i(m.Keep[g+1]) + b2i(m.Keep[g+2]) + b2i(m.Keep[g+3]); kept != 2 {
					t.Fatalf("fc1 group at %d keeps %d of 4", g, kept)
				}
			}
		}},
		{"out_channels", "l2norm", func(t *testing.T, masks pruning.MaskSet) {
			// Neurons: whole rows of Gemm's [out, in] weight.
			m := masks["/ONNX/fc0.weight"]
			rows := 0
			for r := range 300 {
				row := m.Keep[r*784 : (r+1)*784]
				if !slices.Contains(row, true) {
					rows++
				} else if slices.Contains(row, false) {
					t.Fatalf("fc0 row %d is partly pruned", r)
				}
			}
			if rows != 150 {
				t.Errorf("%d of fc0's 300 neurons pruned, want 150", rows)
			}
		}},
	} {
		t.Run(tc.structure, func(t *testing.T) {
			run, err := experiment.Prune(experiment.PruneOptions{Dense: dense,
				Prune:    experiment.PruneSettings{Structure: tc.structure, Criterion: tc.criterion, Allocation: "layerwise", Skip: []string{"/ONNX/fc2.weight"}},
				Schedule: experiment.ScheduleSettings{Schedule: "oneshot", Sparsity: 0.5, Finetune: "10it"}})
			if err != nil {
				t.Fatal(err)
			}
			masks, err := pruning.LoadMasks(filepath.Join(run.Dir, experiment.MasksFile))
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, masks)
			if run.Result.PrunedNonZero != 0 {
				t.Errorf("%d pruned weights non-zero after fine-tuning", run.Result.PrunedNonZero)
			}
		})
	}
	sens, err := experiment.Sensitivity(experiment.SensitivityOptions{Dense: dense, Ladder: []float64{0.5, 0.9}, EvalLimit: 200})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(sens.Table.Layers); n != 3 {
		t.Errorf("sensitivity of %d layers, want LeNet's 3", n)
	}
	one, err := experiment.OneShot(experiment.OneShotOptions{Dense: dense, Method: "sparsegpt", Pattern: "0.5", Calibration: 32})
	if err != nil {
		t.Fatal(err)
	}
	// SparseGPT on Gemm's [out, in] weights (read transposed): all three layers at least half pruned.
	if r := one.Result; len(r.Layers) != 3 || r.Sparsity < 0.5 || r.PrunedAccuracy < r.DenseAccuracy-0.05 {
		t.Errorf("one-shot SparseGPT 50%%: %d layers, sparsity %.3f, accuracy %.3f (dense %.3f)", len(r.Layers),
			r.Sparsity, r.PrunedAccuracy, r.DenseAccuracy)
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
