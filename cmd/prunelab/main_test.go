package main

import (
	"bytes"
	"encoding/json"
	"github.com/prunelab/prunelab/experiment"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prunelab/prunelab/backend"
)

func TestMain(m *testing.M) {
	if os.Getenv(backend.EnvBackend) == "" {
		os.Setenv(backend.EnvBackend, backend.PureGo)
	}
	os.Exit(m.Run())
}

func runCLI(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestHelpAndUsageErrors(t *testing.T) {
	tests := []struct {
		args     []string
		wantCode int
		wantText string
	}{
		{nil, 0, "Commands:"},
		{[]string{"help"}, 0, "train"},
		{[]string{"help", "train"}, 0, "-steps"},
		{[]string{"train", "-h"}, 0, "Lottery Ticket setup"},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"train", "-model", "vgg-99"}, 2, "lenet-300-100"},
		{[]string{"train", "-steps", "three"}, 2, `length "three"`},
		{[]string{"train", "-no-such-flag"}, 2, "flag provided but not defined"},
		{[]string{"train", "extra"}, 2, "unexpected arguments"},
		{[]string{"train", "-optimizer", "adagrad", "-train-limit", "120", "-validation", "60"}, 2, `unknown optimizer "adagrad"`},
		{[]string{"train", "-lr-schedule", "zigzag", "-train-limit", "120", "-validation", "60"}, 2, `unknown lr schedule "zigzag"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, out, errOut := runCLI(tt.args...)
			if code != tt.wantCode || !strings.Contains(out+errOut, tt.wantText) {
				t.Errorf("exit %d, output:\n%s%s\nwant exit %d and %q", code, out, errOut, tt.wantCode, tt.wantText)
			}
		})
	}
}

func TestTrainWritesARunDirectory(t *testing.T) {
	out := t.TempDir()
	args := []string{"train", "-steps", "20it", "-train-limit", "1200", "-validation", "500", "-eval-every", "10",
		"-out", out, "-progress=false"}
	code, stdout, stderr := runCLI(args...)
	if code != 0 {
		t.Fatalf("exit %d:\n%s\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"Result: test accuracy", "Early-stopping iteration", "Files: "} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	dirs, _ := filepath.Glob(filepath.Join(out, "train-lenet-300-100-*"))
	if len(dirs) != 1 {
		t.Fatalf("run directories: %v, want one", dirs)
	}
	for _, f := range []string{"config.json", "result.json", "history.json", "history.csv", "checkpoint", "training_curves.png"} {
		if _, err := os.Stat(filepath.Join(dirs[0], f)); err != nil {
			t.Errorf("run directory lacks %s: %v", f, err)
		}
	}
	var res experiment.TrainResult
	b, err := os.ReadFile(filepath.Join(dirs[0], "result.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	if res.Steps != 20 || res.Final["test"].Accuracy <= 0.2 || res.EarlyStopStep == 0 {
		t.Errorf("result.json = %+v, want 20 steps, better than chance, an early-stopping step", res)
	}
	// Same settings, same directory: the name is a hash of what changes results, not of -out or -progress.
	code, _, _ = runCLI(append(args, "-checkpoint=false")...)
	if dirs2, _ := filepath.Glob(filepath.Join(out, "train-*")); code != 0 || len(dirs2) != 1 {
		t.Errorf("second run: exit %d, directories %v, want the same single directory", code, dirs2)
	}
}
