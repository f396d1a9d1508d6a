package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prunelab/prunelab/experiment"
)

// tinyLM are the training flags of a gpt-tiny that trains in seconds.
var tinyLM = []string{"-train-bytes", "1048576", "-steps", "30", "-batch", "16", "-lr", "3e-3", "-eval-every", "0",
	"-eval-bytes", "4096", "-test-bytes", "8192"}

// TestLMCommand trains a tiny gpt-tiny with "lm train", prunes it with "lm oneshot" from the same
// run, and checks the usage errors.
func TestLMCommand(t *testing.T) {
	out := t.TempDir()
	code, stdout, stderr := runCLI(append([]string{"lm", "train", "-out", out}, tinyLM...)...)
	if code != 0 {
		t.Fatalf("lm train: exit %d:\n%s\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"Result of ", "unigram", "perplexity", "model.plx"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("lm train output lacks %q:\n%s", want, stdout)
		}
	}
	dirs, _ := filepath.Glob(filepath.Join(out, "lm-train-gpt-tiny-*"))
	if len(dirs) != 1 {
		t.Fatalf("train run directories %v, want one", dirs)
	}
	code, stdout, stderr = runCLI(append([]string{"lm", "train", "-out", out}, tinyLM...)...)
	if code != 0 || !strings.Contains(stdout, "already holds this run's result") {
		t.Errorf("lm train again: exit %d, want the finished run found:\n%s\n%s", code, stdout, stderr)
	}

	args := append([]string{"lm", "oneshot", "-out", out, "-methods", "magnitude,sparsegpt", "-sparsities", "0.5",
		"-nm", "", "-seeds", "2", "-calibration", "16"}, tinyLM...)
	code, stdout, stderr = runCLI(args...)
	if code != 0 {
		t.Fatalf("lm oneshot: exit %d:\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "(reused)") || !strings.Contains(stdout, "sparsegpt") {
		t.Errorf("lm oneshot output lacks the reused dense run or the table:\n%s", stdout)
	}
	runs, _ := filepath.Glob(filepath.Join(out, "lm-oneshot-gpt-tiny-*"))
	if len(runs) != 1 {
		t.Fatalf("oneshot run directories %v, want one", runs)
	}
	var rep experiment.LMOneShotReport
	if b, err := os.ReadFile(filepath.Join(runs[0], experiment.ResultsJSONFile)); err != nil || json.Unmarshal(b, &rep) != nil {
		t.Fatalf("reading results.json: %v", err)
	}
	if rep.DenseRun != dirs[0] || len(rep.Points) != 4 || len(rep.Levels) != 2 || rep.Levels[1].Method != "sparsegpt" ||
		rep.Levels[1].Seeds != 2 || rep.Levels[1].Sparsity != 0.5 {
		t.Errorf("results.json: dense run %s, levels %+v, %d points; want magnitude and sparsegpt at 0.5 over 2 seeds",
			rep.DenseRun, rep.Levels, len(rep.Points))
	}
	if _, err := os.Stat(filepath.Join(runs[0], experiment.LMFigureName+".png")); err != nil {
		t.Error(err)
	}

	args = append([]string{"lm", "prune", "-out", out, "-finetune", "4", "-finetune-batch", "8", "-gradient-batches", "2"},
		tinyLM...)
	code, stdout, stderr = runCLI(args...)
	if code != 0 {
		t.Fatalf("lm prune: exit %d:\n%s\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"(reused)", "4 of 8 heads pruned", "heads kept per block", "fewer MACs", "model.plx"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("lm prune output lacks %q:\n%s", want, stdout)
		}
	}

	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"help"}, 0, "lm "},
		{[]string{"help", "lm"}, 0, "prunelab lm oneshot [flags]"},
		{[]string{"lm", "oneshot", "-h"}, 0, "-sparsities"},
		{[]string{"lm"}, 2, "missing subcommand"},
		{[]string{"lm", "pruen"}, 2, `unknown subcommand "pruen"`},
		{[]string{"lm", "prune", "-structure", "blocks", "-sparsity", "1"}, 2, "-sparsity 1"},
		{[]string{"lm", "prune", "-schedule", "polynomial", "-finetune", "0"}, 2, "want -finetune steps"},
		{[]string{"lm", "oneshot", "-methods", "obs"}, 2, `unknown method "obs"`},
		{[]string{"lm", "oneshot", "-sparsities", "1.5"}, 2, "-sparsities: 1.5"},
		{[]string{"lm", "oneshot", "-sparsities", "half"}, 2, `-sparsities: "half"`},
		{[]string{"lm", "oneshot", "-nm", "3:2"}, 2, `-nm "3:2"`},
		{[]string{"lm", "oneshot", "-calibration", "0"}, 2, "-calibration 0"},
		{[]string{"lm", "oneshot", "-seeds", "0"}, 2, "-seeds 0"},
		{[]string{"lm", "train", "-corpus", t.TempDir()}, 2, "-corpus"},
		{[]string{"train", "-model", "gpt-tiny"}, 2, "prunelab lm train"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, stdout, stderr := runCLI(tc.args...) // each fails before writing anything
			if code != tc.code || !strings.Contains(stdout+stderr, tc.want) {
				t.Errorf("exit %d, output:\n%s%s\nwant exit %d and %q", code, stdout, stderr, tc.code, tc.want)
			}
		})
	}
}
