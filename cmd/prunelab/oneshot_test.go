package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prunelab/prunelab/experiment"
)

// TestOneShotCommand prunes a briefly trained LeNet-300-100 with each method at 2:4 (layer-wise
// magnitude at 50%) from the same dense run; each result holds the layers, the pattern's sparsity,
// accuracies and each layer's outlier ratio.
func TestOneShotCommand(t *testing.T) {
	out := t.TempDir()
	for _, method := range []string{"magnitude", "wanda", "sparsegpt", "magnitude-layer"} {
		pattern := "2:4"
		if method == "magnitude-layer" {
			pattern = "0.5" // at N:M it is magnitude
		}
		args := append([]string{"oneshot", "-out", out, "-method", method, "-pattern", pattern, "-calibration", "64"}, tiny...)
		code, stdout, stderr := runCLI(args...)
		if code != 0 {
			t.Fatalf("%s: exit %d:\n%s\n%s", method, code, stdout, stderr)
		}
		i := strings.Index(stdout, "Result of ")
		if i < 0 {
			t.Fatalf("%s: no summary:\n%s", method, stdout)
		}
		dir := strings.TrimSuffix(strings.Fields(stdout[i:])[2], ":")
		var res experiment.OneShotResult
		if b, err := os.ReadFile(filepath.Join(dir, experiment.ResultFile)); err != nil || json.Unmarshal(b, &res) != nil {
			t.Fatalf("%s: reading result.json: %v", method, err)
		}
		if len(res.Layers) != 3 || res.Sparsity < 0.5 || res.PrunedAccuracy < 0.2 || res.DenseAccuracy < 0.2 {
			t.Errorf("%s: result %+v", method, res)
		}
		for _, l := range res.Layers {
			if !(l.OutlierRatio >= 1) {
				t.Errorf("%s: layer %s: outlier ratio %v, want at least 1", method, l.Path, l.OutlierRatio)
			}
		}
	}
	if dirs, _ := filepath.Glob(filepath.Join(out, "train-*")); len(dirs) != 1 {
		t.Errorf("dense runs %v, want one shared by the four methods", dirs)
	}
	for _, tc := range []struct{ args, want string }{
		{"-method obs", `unknown method "obs"`},
		{"-pattern 3:7", "/fc1/dense/weights"}, // 300 inputs
		{"-pattern 1.5", `-pattern "1.5"`},
	} {
		code, stdout, stderr := runCLI(append(append([]string{"oneshot", "-out", out}, tiny...), strings.Fields(tc.args)...)...)
		if code == 0 || !strings.Contains(stdout+stderr, tc.want) {
			t.Errorf("%s: exit %d, output %s%s; want an error mentioning %q", tc.args, code, stdout, stderr, tc.want)
		}
	}
}
