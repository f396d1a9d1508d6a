package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLotterySmokeAndSweep(t *testing.T) {
	out := t.TempDir()
	code, stdout, stderr := runCLI("lottery", "-preset", "smoke", "-levels", "1", "-out", out)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"level  1  reinit", "Figures: accuracy_vs_weights.{svg,png}", "results.json"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	dirs, _ := filepath.Glob(filepath.Join(out, "lottery-*"))
	if len(dirs) != 1 {
		t.Fatalf("run directories %v", dirs)
	}
	for _, f := range []string{"results.csv", "accuracy_vs_weights.png", "first_layer_pixels.svg", "masks.png"} {
		if _, err := os.Stat(filepath.Join(dirs[0], f)); err != nil {
			t.Errorf("missing %s: %v", f, err)
		}
	}
	// The same run again resumes everything.
	code, stdout, _ = runCLI("lottery", "-preset", "smoke", "-levels", "1", "-out", out, "-figures=false")
	if code != 0 || strings.Count(stdout, "(done before)") != 3 {
		t.Errorf("rerun: exit %d, output:\n%s", code, stdout)
	}
	// A sweep over two seeds.
	sweep := filepath.Join(t.TempDir(), "sweep.json")
	os.WriteFile(sweep, []byte(`{"preset": "smoke", "set": {"levels": 1}, "grid": {"seed": [1, 2]}}`), 0o644)
	code, stdout, _ = runCLI("lottery", "-sweep", sweep, "-list")
	if code != 0 || !strings.Contains(stdout, "  1  seed=2") {
		t.Errorf("-list: exit %d:\n%s", code, stdout)
	}
	code, _, stderr = runCLI("lottery", "-sweep", sweep, "-index", "2", "-out", out)
	if code != 2 || !strings.Contains(stderr, "sweep index 2 out of range 0..1") {
		t.Errorf("-index 2: exit %d: %s", code, stderr)
	}
	code, stdout, _ = runCLI("lottery", "-sweep", sweep, "-index", "0", "-out", out, "-figures=false")
	if code != 0 || !strings.Contains(stdout, "(done before)") {
		t.Errorf("sweep entry 0 (the run above) should resume: exit %d\n%s", code, stdout)
	}
}

func TestLotteryUsageErrors(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"lottery", "-preset", "huge"}, `unknown preset "huge"`},
		{[]string{"lottery", "-controls", "shuffle"}, `unknown control "shuffle"`},
		{[]string{"lottery", "-rewind", "later"}, `rewind "later"`},
		{[]string{"lottery", "-prune-rate", "1.5"}, "prune_rate must be in [0, 1)"},
		{[]string{"lottery", "-sweep", "/nonexistent.json", "-index", "0"}, "no such file"},
		{[]string{"lottery", "-sweep", "/dev/null"}, "-sweep needs -index"},
	} {
		code, _, stderr := runCLI(tt.args...)
		if code != 2 || !strings.Contains(stderr, tt.want) {
			t.Errorf("%v: exit %d, stderr %q, want exit 2 and %q", tt.args, code, stderr, tt.want)
		}
	}
}

func TestReportCommand(t *testing.T) {
	out := t.TempDir()
	if code, stdout, stderr := runCLI("lottery", "-preset", "smoke", "-levels", "1", "-controls", "none", "-out", out, "-figures=false"); code != 0 {
		t.Fatalf("lottery: exit %d\n%s%s", code, stdout, stderr)
	}
	dirs, _ := filepath.Glob(filepath.Join(out, "lottery-*"))
	code, stdout, stderr := runCLI("report", dirs[0])
	if code != 0 || !strings.Contains(stdout, filepath.Join(dirs[0], "report.html")) {
		t.Fatalf("report: exit %d\n%s%s", code, stdout, stderr)
	}
	b, err := os.ReadFile(filepath.Join(dirs[0], "report.html"))
	if err != nil || !strings.Contains(string(b), "<svg") {
		t.Errorf("report.html: %v, %d bytes", err, len(b))
	}
	if code, _, stderr := runCLI("report", t.TempDir()); code != 1 || !strings.Contains(stderr, "not a run directory") {
		t.Errorf("report of an empty directory: exit %d, %s", code, stderr)
	}
	if code, _, _ := runCLI("report"); code != 2 {
		t.Errorf("report without directories: exit %d, want 2", code)
	}
}
