package main

import (
	"encoding/json"
	"fmt"
	"github.com/prunelab/prunelab/experiment"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prunelab/prunelab/export"
)

// quick are flags that make a pipeline run in seconds: a little training on a few MNIST images.
var quick = []string{"-train", "40it", "-train-limit", "1200", "-test-limit", "500", "-finetune", "10it", "-progress=false"}

// runDirOf returns the single run directory matching pattern under out and decodes its report.json.
func runDirOf(t *testing.T, out, pattern string, report any) string {
	t.Helper()
	dirs, _ := filepath.Glob(filepath.Join(out, pattern))
	if len(dirs) != 1 {
		t.Fatalf("run directories %v, want one matching %s", dirs, pattern)
	}
	b, err := os.ReadFile(filepath.Join(dirs[0], "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, report); err != nil {
		t.Fatal(err)
	}
	return dirs[0]
}

func TestCompactCommand(t *testing.T) {
	out := t.TempDir()
	args := append([]string{"compact", "-prune", "0.5", "-time-batches", "1", "-time-runs", "2", "-out", out}, quick...)
	code, stdout, stderr := runCLI(args...)
	if code != 0 {
		t.Fatalf("exit %d:\n%s\n%s", code, stdout, stderr)
	}
	var rep experiment.CompactReport
	dir := runDirOf(t, out, "compact-lenet-300-100-*", &rep)
	c := rep.Compaction
	if c == nil || c.RemovedChannels != 200 || c.ParamsAfter >= c.ParamsBefore || len(rep.Timings) != 1 {
		t.Fatalf("report: %+v", rep)
	}
	// The compacted model computes what the pruned one does: same predictions (up to rounding).
	if d := rep.CompactedAccuracy - rep.PrunedAccuracy; d > 0.001 || d < -0.001 {
		t.Errorf("compacted accuracy %.4f, pruned %.4f", rep.CompactedAccuracy, rep.PrunedAccuracy)
	}
	f, err := os.Open(filepath.Join(dir, "model.plx"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := export.Read(f, export.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if m.Program.NumParams() != c.ParamsAfter || m.Meta["compacted"] != "true" {
		t.Errorf("model.plx holds %d params (meta %v), the report says %d", m.Program.NumParams(), m.Meta, c.ParamsAfter)
	}
	if !strings.Contains(stdout, "channels removed") || !strings.Contains(stdout, "inference, batch 1") {
		t.Errorf("output:\n%s", stdout)
	}
}

func TestQuantizeCommand(t *testing.T) {
	out := t.TempDir()
	code, stdout, stderr := runCLI(append([]string{"quantize", "-calib", "128", "-out", out}, quick...)...)
	if code != 0 {
		t.Fatalf("exit %d:\n%s\n%s", code, stdout, stderr)
	}
	var rep experiment.QuantizeReport
	runDirOf(t, out, "quantize-lenet-300-100-*", &rep)
	if len(rep.Layers) != 3 || rep.CalibImages != 128 || rep.Sparsity < 0.89 {
		t.Fatalf("report: %+v", rep)
	}
	if d := rep.Int8Accuracy - rep.PrunedAccuracy; d < -0.01 || d > 0.01 {
		t.Errorf("INT8 accuracy %.4f, float32 %.4f: more than a point apart", rep.Int8Accuracy, rep.PrunedAccuracy)
	}
}

func TestExportCommand(t *testing.T) {
	out := t.TempDir()
	args := append([]string{"export", "-rounds", "2", "-calib", "128", "-out", out}, quick...)
	code, stdout, stderr := runCLI(args...)
	if code != 0 {
		t.Fatalf("exit %d:\n%s\n%s", code, stdout, stderr)
	}
	var rep experiment.ExportReport
	runDirOf(t, out, "export-lenet-300-100-*", &rep)
	if rep.Ratio < 30 || rep.Sizes == nil || len(rep.Sizes.Rows) != 6 || rep.AutoChoice == "" {
		t.Fatalf("report: %+v", rep)
	}
	// The reloaded file holds the INT8 model exactly.
	if rep.ReloadedAccuracy != rep.Int8Accuracy {
		t.Errorf("reloaded accuracy %.4f, INT8 %.4f", rep.ReloadedAccuracy, rep.Int8Accuracy)
	}

	// prunelab inspect reads the file back: its contents, and the accuracy export measured.
	code, stdout, stderr = runCLI("inspect", "-test-limit", "500", rep.File)
	want := fmt.Sprintf("test accuracy on mnist: %.2f%% (500 images)", 100*rep.ReloadedAccuracy)
	for _, s := range []string{"SHA-256 verified", "/fc0/dense/weights", "int8", want} {
		if code != 0 || !strings.Contains(stdout, s) {
			t.Errorf("inspect: exit %d, output lacks %q:\n%s%s", code, s, stdout, stderr)
		}
	}
	// A truncated file and a tampered one: the reader's error, naming the file; exit status 1.
	good, err := os.ReadFile(rep.File)
	if err != nil {
		t.Fatal(err)
	}
	truncated, tampered := filepath.Join(out, "truncated.plx"), filepath.Join(out, "tampered.plx")
	bad := append([]byte(nil), good...)
	bad[len(bad)/2] ^= 0x40
	if os.WriteFile(truncated, good[:len(good)-100], 0o644) != nil || os.WriteFile(tampered, bad, 0o644) != nil {
		t.Fatal("writing the damaged copies")
	}
	for file, want := range map[string]string{truncated: "truncated", tampered: "checksum mismatch"} {
		code, stdout, stderr := runCLI("inspect", file)
		if code != 1 || !strings.Contains(stderr, file) || !strings.Contains(stderr, want) {
			t.Errorf("inspect %s: exit %d, stderr %q (stdout %q); want exit 1 naming the file and %q", file, code, stderr,
				stdout, want)
		}
	}
	if code, _, _ := runCLI("inspect"); code != 2 {
		t.Errorf("inspect without a file: exit %d, want 2", code)
	}
}

func TestDistillCommand(t *testing.T) {
	out := t.TempDir()
	code, stdout, stderr := runCLI("distill", "-train", "40it", "-train-limit", "1200", "-test-limit", "500", "-finetune", "10it", "-seeds", "1,2",
		"-int8=false", "-out", out)
	if code != 0 {
		t.Fatalf("exit %d:\n%s\n%s", code, stdout, stderr)
	}
	var rep struct {
		Seeds     []json.RawMessage `json:"seeds"`
		Distilled struct{ Mean, Std float64 }
	}
	runDirOf(t, out, "distill-lenet-300-100-*", &rep)
	if len(rep.Seeds) != 2 || rep.Distilled.Mean < 0.2 {
		t.Errorf("report: %+v", rep)
	}
}

func TestPipelineUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"compact", "-structure", "bogus"},
		{"export", "-prune", "1.5"},
		{"quantize", "-calib", "-1"},
		{"compact", "-time-batches", "0"},
		{"distill", "-alpha", "2"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			if code, stdout, stderr := runCLI(args...); code != 2 {
				t.Errorf("exit %d, want 2:\n%s%s", code, stdout, stderr)
			}
		})
	}
}
