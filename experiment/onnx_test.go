package experiment_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

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

	masks, err := pruning.LoadMasks(filepath.Join(run.Dir, experiment.MasksFile))
	if err != nil {
		t.Fatal(err)
	}
	m, err := onnxmodel.Open(res.ONNX)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.New()
	if err := m.LoadVariables(ctx); err != nil {
		t.Fatal(err)
	}
	for _, l := range m.Layers {
		w := tensors.MustCopyFlatData[float32](ctx.GetVariableByScopeAndName(context.SplitScope(l.Path)).MustValue())
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
