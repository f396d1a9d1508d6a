package experiment

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prunelab/prunelab/backend"
	"github.com/prunelab/prunelab/export"
)

func TestMain(m *testing.M) {
	if os.Getenv(backend.EnvBackend) == "" {
		os.Setenv(backend.EnvBackend, backend.PureGo)
	}
	os.Exit(m.Run())
}

func TestHash(t *testing.T) {
	a := TrainConfig{Model: "lenet-300-100", Seed: 1, LR: 1e-3}
	b := a
	b.Seed = 2
	if Hash(a) == Hash(b) || Hash(a) != Hash(a) || len(Hash(a)) != 10 {
		t.Errorf("Hash(seed 1) = %s, Hash(seed 2) = %s: want stable, different, 10 digits", Hash(a), Hash(b))
	}
	// Directory names of earlier runs stay: this is the name "prunelab train" gave the default run.
	rc := TrainConfig{Model: "lenet-300-100", Dataset: "mnist", Steps: "3ep", Optimizer: "adam", LRSchedule: "constant",
		LR: 1.2e-3, Momentum: 0.9, Batch: 60, Validation: 5000, Seed: 1}
	if got := rc.Dir("runs"); got != filepath.Join("runs", "train-lenet-300-100-"+Hash(rc)) {
		t.Errorf("Dir = %s", got)
	}
}

// TestOptionsErrors checks that bad options fail as ErrOptions, with a message naming the setting,
// before any data is loaded or model trained (each case returns in well under the time training
// would take; the test does not time it, it checks that no run directory appears).
func TestOptionsErrors(t *testing.T) {
	out := t.TempDir()
	dense := DenseOptions{Out: out, TrainLimit: 100}
	tests := []struct {
		name string
		run  func() error
		want string
	}{
		{"criterion", func() error {
			_, err := Prune(PruneOptions{Dense: dense, Prune: PruneSettings{Criterion: "magnitud"}})
			return err
		}, `unknown criterion "magnitud"`},
		{"skip", func() error {
			_, err := Prune(PruneOptions{Dense: dense, Prune: PruneSettings{Skip: []string{"/fc9/**"}}})
			return err
		}, `"/fc9/**" matches no prunable layer`},
		{"structure", func() error {
			_, err := Prune(PruneOptions{Dense: dense, Prune: PruneSettings{Structure: "4:8"}})
			return err
		}, "input dimension 300 is not a multiple of M=8"},
		{"schedule", func() error {
			_, err := Prune(PruneOptions{Dense: dense, Schedule: ScheduleSettings{Schedule: "weekly"}})
			return err
		}, `unknown schedule "weekly"`},
		{"sparsity", func() error {
			_, err := Prune(PruneOptions{Dense: dense, Schedule: ScheduleSettings{Schedule: "oneshot", Sparsity: 1}})
			return err
		}, "-sparsity"},
		{"model", func() error {
			_, err := Train(TrainOptions{Model: "vgg-99", Out: out})
			return err
		}, "lenet-300-100"},
		{"from", func() error {
			_, err := Sensitivity(SensitivityOptions{Dense: DenseOptions{From: filepath.Join(out, "nothing")}})
			return err
		}, "not a train run directory"},
		{"ladder", func() error {
			_, err := Sensitivity(SensitivityOptions{Dense: dense, Ladder: []float64{0.5, 1}})
			return err
		}, "-ladder"},
		{"pipeline structure", func() error {
			_, _, err := Compact(CompactOptions{Pipeline: PipelineOptions{Structure: "bogus", Out: out}})
			return err
		}, `unknown -structure "bogus"`},
		{"calib", func() error {
			_, _, err := Quantize(QuantizeOptions{Calib: -1})
			return err
		}, "-calib -1"},
		{"oneshot method", func() error {
			_, err := OneShot(OneShotOptions{Dense: dense, Method: "obs"})
			return err
		}, `unknown method "obs"`},
		{"oneshot pattern", func() error {
			_, err := OneShot(OneShotOptions{Dense: dense, Pattern: "5:4"})
			return err
		}, `-pattern "5:4"`},
		{"oneshot skip", func() error {
			_, err := OneShot(OneShotOptions{Dense: dense, Skip: []string{"/head/**"}})
			return err
		}, `"/head/**" matches no prunable layer`},
		{"language model", func() error {
			_, err := Train(TrainOptions{Model: "gpt-tiny", Out: out})
			return err
		}, "gpt-tiny is not an image classifier"},
		{"language model prune", func() error {
			_, err := Prune(PruneOptions{Dense: DenseOptions{Model: "gpt-tiny", Out: out}})
			return err
		}, `use "prunelab lm train"`},
		{"dense lr schedule", func() error {
			_, err := Prune(PruneOptions{Dense: DenseOptions{Out: out, LRSchedule: "zigzag"}})
			return err
		}, `unknown lr schedule "zigzag"`},
		{"distill", func() error {
			_, _, err := Distill(DistillOptions{Prune: 1.5, Out: out})
			return err
		}, "-prune in (0, 1)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.run()
			if !errors.Is(err, ErrOptions) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want ErrOptions mentioning %q", err, tt.want)
			}
		})
	}
	if entries, _ := os.ReadDir(out); len(entries) != 0 {
		t.Errorf("bad options wrote %d entries into the run directory, want none", len(entries))
	}
}

// TestDenseFindsScheduledTrainRun: a flow's dense options with the learning-rate schedule of a
// "prunelab train" run name that run's directory and restore its model, instead of training
// another (the schedule is part of the configuration hash).
func TestDenseFindsScheduledTrainRun(t *testing.T) {
	out := t.TempDir()
	run, err := Train(TrainOptions{Steps: "6it", TrainLimit: 300, Validation: 60, Seed: 3, LR: 2e-3,
		LRSchedule: "cosine:2", Out: out, Batch: 30})
	if err != nil {
		t.Skipf("MNIST: %v", err)
	}
	o := DenseOptions{Dense: "6it", TrainLimit: 300, Validation: 60, Seed: 3, LR: 2e-3, Batch: 30, Out: out}
	_, _, constant, err := ResolveDense(o)
	if err != nil {
		t.Fatal(err)
	}
	o.LRSchedule = "cosine:2"
	d, err := OpenDense(o)
	if err != nil {
		t.Fatal(err)
	}
	if d.Dir != run.Dir || constant == run.Dir {
		t.Fatalf("dense options with the schedule name %s, without it %s; the train run is %s", d.Dir, constant, run.Dir)
	}
	want, err := run.Session.Evaluate(d.Data.Test)
	if err != nil {
		t.Fatal(err)
	}
	got, err := d.Session.Evaluate(d.Data.Test)
	if err != nil {
		t.Fatal(err)
	}
	if got.Loss != want.Loss {
		t.Errorf("restored dense model: test loss %v, the train run's %v", got.Loss, want.Loss)
	}
	// Training it from here fine-tunes at -lr, constant, not along the dense run's warm-up and cosine
	// (which would start at half the rate and end at 0).
	for _, step := range []int{0, 3, 100} {
		if lr := d.Session.Config().LRSchedule.LearningRate(step); lr != 2e-3 {
			t.Errorf("restored dense model: learning rate %g at step %d, want the constant 2e-3", lr, step)
		}
	}
}

func TestLoadDataAndBudget(t *testing.T) {
	s, err := LoadData(DataOptions{Dataset: "mnist", Validation: 500, TrainLimit: 1000, TestLimit: 300, Seed: 3})
	if err != nil {
		t.Skipf("MNIST: %v", err)
	}
	if s.Train.N != 1000 || s.Validation.N != 500 || s.Test.N != 300 || s.Source == "" {
		t.Errorf("splits %d/%d/%d from %q, want 1000/500/300 and a source", s.Train.N, s.Validation.N, s.Test.N, s.Source)
	}
	if _, err := LoadData(DataOptions{Validation: 70000}); !errors.Is(err, ErrOptions) {
		t.Errorf("70,000 validation images of 60,000: error %v, want ErrOptions", err)
	}
	t.Setenv(EnvBudget, "smoke")
	t.Setenv(EnvRuns, "/tmp/r")
	b := BudgetFromEnv()
	m, err := b.MNIST()
	if err != nil {
		t.Fatal(err)
	}
	if b != Smoke || b.Length("3ep", "150it").Steps != 150 || b.RunDir("x") != "/tmp/r/smoke/x" || b.Int(5, 2) != 2 ||
		m.Train.N != 3000 || m.Validation.N != 1000 || m.Test.N != 1000 {
		t.Errorf("smoke budget: %q, %v, %s, %d, splits %d/%d/%d", b, b.Length("3ep", "150it"), b.RunDir("x"), b.Int(5, 2),
			m.Train.N, m.Validation.N, m.Test.N)
	}
	t.Setenv(EnvBudget, "")
	if b := BudgetFromEnv(); b != Full || b.Length("3ep", "150it").Epochs != 3 {
		t.Errorf("full budget: %q", b)
	}
}

// TestInspectBadFiles: a truncated, a tampered and a foreign file get the export reader's error,
// naming the file.
func TestInspectBadFiles(t *testing.T) {
	dir := t.TempDir()
	rep, _, err := Export(ExportOptions{Pipeline: PipelineOptions{Train: "20it", TrainLimit: 600, TestLimit: 200, Seed: 1,
		Prune: 0.8, Out: dir}})
	if err != nil {
		t.Skipf("export: %v", err)
	}
	in, err := Inspect(rep.File, InspectOptions{TestLimit: 200})
	if err != nil || in.Accuracy != rep.ReloadedAccuracy || in.Dataset != "mnist" || in.NonZero >= in.Params {
		t.Fatalf("inspect of a good file: %+v, %v", in, err)
	}
	good, _ := os.ReadFile(rep.File)
	tampered := bytes.Clone(good)
	tampered[len(good)/2] ^= 1
	for name, tc := range map[string]struct {
		data []byte
		want error
	}{
		"truncated.plx": {good[:len(good)/3], export.ErrFormat},
		"tampered.plx":  {tampered, export.ErrChecksum},
		"foreign.plx":   {[]byte("PK\x03\x04 not a model"), export.ErrFormat},
	} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, tc.data, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := Inspect(path, InspectOptions{}); !errors.Is(err, tc.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: error %v, want %v naming the file", name, err, tc.want)
		}
	}
	if _, err := Inspect(filepath.Join(dir, "missing.plx"), InspectOptions{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

// TestReadmeQuickstart runs the Go program of README.md's quickstart as written, at the smoke budget,
// so that it cannot go stale.
func TestReadmeQuickstart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a program")
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "## Go quickstart")
	if !ok {
		t.Fatal(`README.md has no "## Go quickstart" section`)
	}
	_, code, ok1 := strings.Cut(rest, "```go\n")
	code, _, ok2 := strings.Cut(code, "```")
	if !ok1 || !ok2 {
		t.Fatal("README.md's quickstart has no ```go block")
	}
	// Inside the module (a directory starting with "." that go's ./... patterns skip), so that it
	// builds against this checkout.
	dir, err := os.MkdirTemp(".", ".quickstart-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(code), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "run", "./"+filepath.Base(dir))
	cmd.Env = append(os.Environ(), EnvBudget+"=smoke")
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go run of the README's quickstart: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "at 80% sparsity; 0 of ") || !strings.Contains(string(out), "pruned weights non-zero") {
		t.Errorf("quickstart printed:\n%s\nwant the sparsity and no pruned weight non-zero", out)
	}
	t.Logf("quickstart (build and run) took %s:\n%s", time.Since(start).Round(time.Second), out)
}
