package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prunelab/prunelab/internal/peers"
	"github.com/prunelab/prunelab/onnxmodel"
)

// TestONNXCommands: "prunelab prune -onnx" prunes an imported PyTorch model and writes it back as
// ONNX; "prunelab compact -onnx" writes a smaller ResNet; bad files and shapes exit 2 with the
// file named.
func TestONNXCommands(t *testing.T) {
	dir := peers.TorchModels(t, "lenet", "resnet18")
	out := t.TempDir()
	code, stdout, stderr := runCLI("prune", "-onnx", filepath.Join(dir, "lenet.onnx"), "-sparsity", "0.9",
		"-finetune", "20it", "-test-limit", "500", "-progress=false", "-out", out, "-onnx-int8")
	if code != 0 {
		t.Fatalf("prune -onnx: exit %d\n%s\n%s", code, stdout, stderr)
	}
	files, _ := filepath.Glob(filepath.Join(out, "prune-onnx-lenet-*", "model.onnx"))
	if len(files) != 1 || !strings.Contains(stdout, "model.onnx (the pruned model as ONNX)") ||
		!strings.Contains(stdout, "model-int8.onnx (the same with INT8 weights)") {
		t.Fatalf("no model.onnx in the run directory (%v):\n%s", files, stdout)
	}
	m, err := onnxmodel.Open(files[0])
	if err != nil || len(m.Layers) != 3 {
		t.Fatalf("the written model: %v", err)
	}

	small := filepath.Join(out, "r18.onnx")
	code, stdout, stderr = runCLI("compact", "-onnx", filepath.Join(dir, "resnet18.onnx"), "-prune", "0.3",
		"-input-shape", "3,32,32", "-o", small)
	if code != 0 || !strings.Contains(stdout, "theoretical speedup") {
		t.Fatalf("compact -onnx: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if st, err := os.Stat(small); err != nil || st.Size() > 30<<20 {
		t.Errorf("compacted file: %v (%d bytes)", err, st.Size())
	}

	bad := filepath.Join(out, "bad.onnx")
	data, err := os.ReadFile(filepath.Join(dir, "lenet.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, data[:len(data)/3], 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		says string
	}{
		{[]string{"prune", "-onnx", bad, "-out", out}, "bad.onnx"},
		{[]string{"prune", "-onnx", filepath.Join(dir, "resnet18.onnx"), "-out", out}, "does not take images 28x28x1"},
		{[]string{"compact", "-onnx", filepath.Join(dir, "resnet18.onnx")}, "-input-shape"},
		{[]string{"compact", "-onnx", filepath.Join(out, "missing.onnx")}, "missing.onnx"},
	} {
		code, stdout, stderr := runCLI(tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.says) {
			t.Errorf("%v: exit %d, stderr %q, want 2 and %q\n%s", tc.args, code, stderr, tc.says, stdout)
		}
	}
}
