package main

import (
	"encoding/json"
	"github.com/prunelab/prunelab/experiment"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prunelab/prunelab/pruning"
)

func TestSensitivityCommand(t *testing.T) {
	out := t.TempDir()
	args := append([]string{"sensitivity", "-out", out, "-ladder", "0.5,0.9", "-eval-limit", "200", "-target", "0.7"},
		tiny...)
	code, stdout, stderr := runCLI(args...)
	if code != 0 {
		t.Fatalf("exit %d:\n%s\n%s", code, stdout, stderr)
	}
	dirs, _ := filepath.Glob(filepath.Join(out, "sensitivity-lenet-300-100-*"))
	if len(dirs) != 1 {
		t.Fatalf("run directories %v, want one", dirs)
	}
	for _, f := range []string{experiment.ConfigFile, experiment.ResultFile, experiment.SensitivityJSON, experiment.SensitivityCSV, experiment.AmountsFile, experiment.ReportTextFile,
		experiment.ReportJSONFile, experiment.MasksFile} {
		if _, err := os.Stat(filepath.Join(dirs[0], f)); err != nil {
			t.Errorf("run directory lacks %s", f)
		}
	}
	var table pruning.SensitivityTable
	b, _ := os.ReadFile(filepath.Join(dirs[0], experiment.SensitivityJSON))
	if err := json.Unmarshal(b, &table); err != nil {
		t.Fatal(err)
	}
	if len(table.Layers) != 3 || len(table.Layers[0].Metrics) != 2 {
		t.Errorf("table %+v: want 3 layers x 2 sparsities", table)
	}
	csv, _ := os.ReadFile(filepath.Join(dirs[0], experiment.SensitivityCSV))
	if !strings.HasPrefix(string(csv), "layer,params,0,0.5,0.9\n/fc0/dense/weights,235200,") {
		t.Errorf("sensitivity.csv:\n%s", csv)
	}
	var res experiment.SensitivityResult
	b, _ = os.ReadFile(filepath.Join(dirs[0], experiment.ResultFile))
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	if d := res.MaskedSparsity - 0.7; d < -0.01 || d > 0.01 {
		t.Errorf("masked sparsity %.4f after applying the derived amounts, want 0.7", res.MaskedSparsity)
	}
	for _, want := range []string{"Validation accuracy with one layer pruned", "amounts        overall sparsity 70.00%",
		"test accuracy", "Files: "} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}

	// Bad input.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-ladder", "0.5,1"}, `-ladder: "1" is not a sparsity in [0, 1)`},
		{[]string{"-ladder", "0.9,0.5"}, "must be increasing"},
		{[]string{"-allocation", "global"}, "flag provided but not defined: -allocation"},
		{[]string{"-target", "1"}, "-target must be in [0, 1)"},
		{[]string{"-criterion", "size"}, `unknown criterion "size"`},
	} {
		code, out, errOut := runCLI(append([]string{"sensitivity", "-out", t.TempDir()}, tc.args...)...)
		if code != 2 || !strings.Contains(out+errOut, tc.want) {
			t.Errorf("%v: exit %d, output:\n%s%s\nwant exit 2 and %q", tc.args, code, out, errOut, tc.want)
		}
	}
}
