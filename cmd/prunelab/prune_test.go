package main

import (
	"encoding/json"
	"github.com/prunelab/prunelab/experiment"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// tiny are the flags of a quick run: 1,200 training images, 20 dense steps, 500 test images.
var tiny = []string{"-train-limit", "1200", "-validation", "500", "-dense", "20it", "-test-limit", "500",
	"-progress=false"}

func TestPruneUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-criterion", "magnitud"}, `unknown criterion "magnitud"; known: l1norm, l2norm, magnitude, movement`},
		{[]string{"-structure", "rows"}, `unknown structure "rows"; known: unstructured, out_channels`},
		{[]string{"-allocation", "everywhere"}, `unknown allocation "everywhere" (known: layerwise, global, erk, per-layer)`},
		{[]string{"-schedule", "weekly"}, `unknown schedule "weekly" (known: oneshot, iterative, polynomial)`},
		{[]string{"-ties", "random"}, `unknown tie-breaking "random" (known: position, torch)`},
		{[]string{"-sparsity", "1"}, "-sparsity: pruning: invalid amount: amount 1 (sparsity) is not in [0, 1)"},
		{[]string{"-sparsity", "-0.2"}, "amount -0.2 (sparsity) is not in [0, 1)"},
		{[]string{"-layer-amounts", "/fc0/**=1.2", "-allocation", "per-layer"}, `sparsity "1.2" is not a number in [0, 1)`},
		{[]string{"-skip", "/fc9/**"}, `"/fc9/**" matches no prunable layer; layers: /fc0/dense/weights, /fc1/dense/weights, /fc2/dense/weights`},
		{[]string{"-allocation", "per-layer", "-layer-amounts", "/fc0/dense/weight=0.5"}, `"/fc0/dense/weight" matches no prunable layer`},
		{[]string{"-structure", "4:8"}, "/fc1/dense/weights: input dimension 300 is not a multiple of M=8"},
		{[]string{"-schedule", "polynomial", "-begin", "500it", "-end", "100it"}, "end step 100 precedes begin step 500"},
		{[]string{"-schedule", "polynomial", "-finetune", "100it", "-end", "200it"}, "is after the end of -finetune"},
		{[]string{"-from", "/nonexistent/run"}, "-from /nonexistent/run: not a train run directory"},
		{[]string{"-from", ".", "-model", "lenet-300-100"}, "-model conflicts with -from"},
		{[]string{"-model", "vgg-99"}, "lenet-300-100"},
		{[]string{"-dense", "three"}, `length "three"`},
		{[]string{"-structure", "heads"}, "-structure heads: the model has no head gates"},
		{[]string{"-model", "vit-tiny", "-structure", "heads", "-criterion", "magnitude"}, "-criterion magnitude ranks by magnitude"},
		{[]string{"-model", "vit-tiny", "-structure", "heads", "-sparsity", "0.9"}, "at most 12 can go"},
		{[]string{"-model", "vit-tiny", "-structure", "blocks", "-sparsity", "0.9"}, "prunes 4 of 4 blocks; at least one must stay"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, out, errOut := runCLI(append([]string{"prune", "-out", t.TempDir()}, tt.args...)...)
			if code != 2 || !strings.Contains(out+errOut, tt.want) {
				t.Errorf("exit %d, output:\n%s%s\nwant exit 2 and %q", code, out, errOut, tt.want)
			}
		})
	}
}

// readPruneResult reads the result.json of the single prune run directory under out matching glob.
func readPruneResult(t *testing.T, dir string) *experiment.PruneResult {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, experiment.ResultFile))
	if err != nil {
		t.Fatal(err)
	}
	var res experiment.PruneResult
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	return &res
}

// TestPruneStructuresKeepZeros prunes LeNet-300-100 with every structure (and every schedule, a
// gradient criterion, both tie-breaking rules), fine-tunes with Adam, and checks that the
// masked weights are exactly zero afterwards and that the run directory is complete. The dense
// model is trained once and reused.
func TestPruneStructuresKeepZeros(t *testing.T) {
	out := t.TempDir()
	tests := []struct {
		name         string
		args         []string
		wantSparsity float64 // of the masked weights, within 0.01
	}{
		{"unstructured polynomial global", []string{"-schedule", "polynomial", "-sparsity", "0.9", "-finetune", "30it",
			"-frequency", "10it"}, 0.9},
		{"neurons iterative layerwise", []string{"-structure", "out_channels", "-criterion", "l2norm", "-allocation",
			"layerwise", "-schedule", "iterative", "-cycles", "2", "-sparsity", "0.5"}, 0.5},
		{"input channels taylor", []string{"-structure", "in_channels", "-criterion", "taylor", "-allocation", "layerwise",
			"-sparsity", "0.5", "-gradient-batches", "2"}, 0.5},
		{"2:4", []string{"-structure", "2:4"}, 0.5},
		{"4:8 with skips", []string{"-structure", "4:8", "-skip", "/fc1/**,/fc2/**"}, 0.5 * 235200 / 266200},
		{"block4x1 torch ties", []string{"-structure", "block4x1", "-allocation", "layerwise", "-ties", "torch",
			"-sparsity", "0.75"}, 0.75},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"prune", "-out", out, "-finetune", "20it"}, tiny...)
			code, stdout, stderr := runCLI(append(args, tc.args...)...)
			if code != 0 {
				t.Fatalf("exit %d:\n%s\n%s", code, stdout, stderr)
			}
			i := strings.Index(stdout, "Result of ")
			if i < 0 {
				t.Fatalf("no summary in output:\n%s", stdout)
			}
			dir := strings.TrimSuffix(strings.Fields(stdout[i:])[2], ":")
			res := readPruneResult(t, dir)
			if res.Pruned == 0 || res.PrunedNonZero != 0 {
				t.Errorf("%d pruned weights, %d of them non-zero after fine-tuning; want > 0 and 0", res.Pruned,
					res.PrunedNonZero)
			}
			if d := res.MaskedSparsity - tc.wantSparsity; d < -0.01 || d > 0.01 {
				t.Errorf("masked sparsity %.4f, want %.4f", res.MaskedSparsity, tc.wantSparsity)
			}
			if res.Final["test"].Accuracy < 0.2 || res.Compression <= 1 || len(res.Updates) == 0 {
				t.Errorf("result %+v: want better than chance, compression > 1, updates recorded", res)
			}
			for _, f := range []string{experiment.ConfigFile, experiment.HistoryJSONFile, experiment.HistoryCSVFile, experiment.UpdatesCSVFile, experiment.ReportTextFile,
				experiment.ReportJSONFile, experiment.MasksFile, experiment.CheckpointDir, "masks.png", "sparsity_by_layer.svg", "first_layer_pixels.png"} {
				if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
					t.Errorf("run directory lacks %s", f)
				}
			}
			for _, want := range []string{"test accuracy", "sparsity", "compression", "theoretical speedup",
				"masks held     0 of"} {
				if !strings.Contains(stdout, want) {
					t.Errorf("summary lacks %q:\n%s", want, stdout)
				}
			}
		})
	}
	// One dense run, trained once and restored afterwards.
	if dirs, _ := filepath.Glob(filepath.Join(out, "train-lenet-300-100-*")); len(dirs) != 1 {
		t.Errorf("dense run directories %v, want one", dirs)
	}
	if dirs, _ := filepath.Glob(filepath.Join(out, "prune-lenet-300-100-*")); len(dirs) != len(tests) {
		t.Errorf("%d prune run directories, want %d", len(dirs), len(tests))
	}
}

// TestPruneFromTrainRunAndReuse starts from a "prunelab train" run with -from, then reruns the
// same command, which finds the finished run instead of pruning again.
func TestPruneFromTrainRunAndReuse(t *testing.T) {
	out := t.TempDir()
	code, stdout, stderr := runCLI("train", "-steps", "20it", "-train-limit", "1200", "-validation", "500",
		"-out", out, "-progress=false")
	if code != 0 {
		t.Fatalf("train: exit %d:\n%s\n%s", code, stdout, stderr)
	}
	trainDirs, _ := filepath.Glob(filepath.Join(out, "train-*"))
	if len(trainDirs) != 1 {
		t.Fatalf("train run directories %v", trainDirs)
	}
	args := []string{"prune", "-from", trainDirs[0], "-out", out, "-finetune", "10it", "-test-limit", "500",
		"-sparsity", "0.6", "-progress=false", "-lr", "5e-4"}
	code, stdout, stderr = runCLI(args...)
	if code != 0 {
		t.Fatalf("prune: exit %d:\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "(restored)") || !strings.Contains(stdout, "Result of ") {
		t.Errorf("output:\n%s\nwant the dense model restored and a summary", stdout)
	}
	code, again, _ := runCLI(args...)
	if code != 0 || !strings.Contains(again, "already holds this run's result") || !strings.Contains(again, "masks held") {
		t.Errorf("second run: exit %d, output:\n%s\nwant the finished run found and summarized", code, again)
	}
}
