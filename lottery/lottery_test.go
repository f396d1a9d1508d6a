package lottery

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prunelab/prunelab/backend"
	"github.com/prunelab/prunelab/datasets"
)

func TestMain(m *testing.M) {
	if os.Getenv(backend.EnvBackend) == "" {
		os.Setenv(backend.EnvBackend, backend.PureGo)
	}
	// The kill -9 test re-executes this binary as the experiment to kill.
	if dir := os.Getenv("LOTTERY_CHILD_DIR"); dir != "" {
		if _, err := smokeExperiment(dir).Run(); err != nil {
			os.Stderr.WriteString(err.Error())
			os.Exit(3)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func smokeExperiment(dir string) *Experiment {
	p, err := PresetByName("smoke")
	if err != nil {
		panic(err)
	}
	return &Experiment{Config: p.Config, Replicates: p.Replicates, Controls: []string{Reinit, RandomMask}, Dir: dir}
}

// runSmoke runs the smoke preset uninterrupted once per test binary and returns its directory.
var smokeDir string

func runSmoke(t *testing.T) string {
	t.Helper()
	if smokeDir != "" {
		return smokeDir
	}
	dir, err := os.MkdirTemp("", "lottery-smoke")
	if err != nil {
		t.Fatal(err)
	}
	e := smokeExperiment(dir)
	var log bytes.Buffer
	e.Log = &log
	sum, err := e.Run()
	if err != nil {
		if errors.Is(err, datasets.ErrNotFound) {
			t.Skipf("MNIST unavailable: %v", err)
		}
		t.Fatal(err)
	}
	if n := strings.Count(log.String(), "\n"); n != 7 {
		t.Errorf("live table has %d lines, want 7 (level 0, then main, reinit, random-mask at levels 1-2):\n%s", n, log.String())
	}
	if len(sum.Rows) != 7 {
		t.Errorf("summary has %d rows, want 7: %+v", len(sum.Rows), sum.Rows)
	}
	smokeDir = dir
	return dir
}

func TestSmokeRunShapesAndSparsities(t *testing.T) {
	dir := runSmoke(t)
	sum, err := Summarize(dir)
	if err != nil {
		t.Fatal(err)
	}
	// Smoke preset: hidden layers lose 50% and the output layer 25% of their survivors per level.
	want := map[int]float64{0: 100, 1: 100 * (0.5*(784*300+300*100) + 0.75*1000) / 266200, 2: 100 * (0.25*(784*300+300*100) + 0.5625*1000) / 266200}
	for level, w := range want {
		for _, branch := range []string{Main, Reinit, RandomMask} {
			if level == 0 && branch != Main {
				continue
			}
			row, ok := sum.Row(branch, level)
			if !ok {
				t.Fatalf("no row for %s level %d", branch, level)
			}
			if diff := row.WeightsRemaining - w; diff > 0.01 || diff < -0.01 {
				t.Errorf("%s level %d keeps %.3f%% of weights, want %.3f%%", branch, level, row.WeightsRemaining, w)
			}
			if row.TestAcc < 0.3 {
				t.Errorf("%s level %d test accuracy %.3f: not learning", branch, level, row.TestAcc)
			}
		}
	}
	res, err := readLevel(LevelDir(dir, 1, 2, Main))
	if err != nil {
		t.Fatal(err)
	}
	if res.MaskJaccardPrevious < 0.49 || res.MaskJaccardPrevious > 0.51 {
		t.Errorf("level 2 mask Jaccard with level 1 = %g, want about 0.5 (monotone pruning of half)", res.MaskJaccardPrevious)
	}
	if res.EarlyStopIteration%15 != 0 || len(res.History) != 6 {
		t.Errorf("early stop at %d, %d history points; want a multiple of 15 and 6 points", res.EarlyStopIteration, len(res.History))
	}
}

func TestRerunResumesEverything(t *testing.T) {
	dir := runSmoke(t)
	before, err := os.ReadFile(filepath.Join(dir, ResultsJSON))
	if err != nil {
		t.Fatal(err)
	}
	e := smokeExperiment(dir)
	var log bytes.Buffer
	e.Log = &log
	if _, err := e.Run(); err != nil {
		t.Fatal(err)
	}
	if strings.Count(log.String(), "(done before)") != 7 {
		t.Errorf("rerun redid work:\n%s", log.String())
	}
	after, _ := os.ReadFile(filepath.Join(dir, ResultsJSON))
	if !bytes.Equal(before, after) {
		t.Errorf("results.json changed on a rerun")
	}
}

// TestKillNineResumes kills the experiment with SIGKILL at random moments, three times, resumes it to
// the end, and requires the same results file as the uninterrupted run.
//
// The moments are drawn after a child's start-up, between 10% and 30% of the time the work of an
// uninterrupted child takes on this machine (both measured first), so that each of the three kills
// lands in the middle of the work however fast the machine is: three kills at 30% leave at least 10%
// of it for the final resume.
func TestKillNineResumes(t *testing.T) {
	want, err := os.ReadFile(filepath.Join(runSmoke(t), ResultsJSON))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	childIn := func(dir string) *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "LOTTERY_CHILD_DIR="+dir)
		return cmd
	}
	child := func() *exec.Cmd { return childIn(dir) }
	// Time a whole run and a rerun that finds everything done (the start-up: data, graphs).
	scratch := t.TempDir()
	var took [2]time.Duration
	for i := range took {
		start := time.Now()
		if out, err := childIn(scratch).CombinedOutput(); err != nil {
			t.Fatalf("uninterrupted child failed: %v\n%s", err, out)
		}
		took[i] = time.Since(start)
	}
	startup, work := took[1], max(took[0]-took[1], 10*time.Millisecond)
	t.Logf("an uninterrupted child takes %s, of which %s start-up", took[0], startup)
	kills := 0
	for attempt := 0; kills < 3 && attempt < 10; attempt++ {
		cmd := child()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		delay := startup + work/10 + time.Duration(rng.Int64N(int64(work/5)))
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("child failed: %v", err)
			}
			t.Logf("child finished before its kill at %s", delay)
		case <-time.After(delay):
			cmd.Process.Kill() // SIGKILL
			<-done
			kills++
			t.Logf("killed after %s", delay)
		}
	}
	cmd := child()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("final resume failed: %v\n%s", err, out)
	}
	got, err := os.ReadFile(filepath.Join(dir, ResultsJSON))
	if err != nil {
		t.Fatal(err)
	}
	if kills < 3 {
		t.Errorf("only %d kills landed", kills)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("results after %d kills differ from the uninterrupted run:\n got %s\nwant %s", kills, got, want)
	}
}

func TestBadInputs(t *testing.T) {
	dir := runSmoke(t)
	// Another configuration against this directory.
	e := smokeExperiment(dir)
	e.Config.LR = 1e-3
	if _, err := e.Run(); !errors.Is(err, ErrConfigMismatch) || !strings.Contains(err.Error(), "lr: directory has 0.0012, asked 0.001") {
		t.Errorf("mismatched config: err = %v, want ErrConfigMismatch naming lr", err)
	}
	// Replicate out of range.
	e = smokeExperiment(dir)
	e.Only = 4
	if _, err := e.Run(); err == nil || !strings.Contains(err.Error(), "replicate 4 out of range 1..1") {
		t.Errorf("replicate out of range: err = %v", err)
	}
	// A corrupt level in a copy of the run: an error naming the file; nothing overwritten.
	cp := t.TempDir()
	if err := os.CopyFS(cp, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	metrics := filepath.Join(LevelDir(cp, 1, 1, Main), MetricsFile)
	if err := os.WriteFile(metrics, []byte(`{"replicate": 1, "lev`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := smokeExperiment(cp).Run(); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), metrics) {
		t.Errorf("corrupt metrics: err = %v, want ErrCorrupt naming %s", err, metrics)
	}
	if b, _ := os.ReadFile(metrics); string(b) != `{"replicate": 1, "lev` {
		t.Errorf("corrupt metrics file was overwritten")
	}
	// A damaged weights file is caught by its checksum.
	final := filepath.Join(LevelDir(cp, 1, 0, Main), FinalFile)
	b, _ := os.ReadFile(final)
	b[len(b)/2] ^= 0xff
	os.WriteFile(final, b, 0o644)
	if _, err := readWeights(final); !errors.Is(err, ErrCorrupt) {
		t.Errorf("damaged weights: err = %v, want ErrCorrupt", err)
	}
}

func TestConfigValidate(t *testing.T) {
	good := Presets[0].Config
	tests := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"rate", func(c *Config) { c.PruneRate = 1 }, "prune_rate must be in [0, 1)"},
		{"scope", func(c *Config) { c.Scope = "blockwise" }, `scope "blockwise"`},
		{"rewind", func(c *Config) { c.Rewind = "soon" }, `rewind "soon"`},
		{"iterations", func(c *Config) { c.Iterations.Steps = 0 }, "iterations must be positive"},
		{"validation", func(c *Config) { c.Validation = 0 }, "validation must hold"},
	}
	if err := good.Validate(); err != nil {
		t.Fatalf("smoke preset invalid: %v", err)
	}
	for _, tt := range tests {
		c := good
		tt.edit(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Validate() = %v, want %q", tt.name, err, tt.want)
		}
	}
	for _, p := range Presets {
		if err := p.Config.Validate(); err != nil {
			t.Errorf("preset %s: %v", p.Name, err)
		}
	}
	if _, err := PresetByName("huge"); err == nil || !strings.Contains(err.Error(), "smoke, quick, paper") {
		t.Errorf("unknown preset error = %v", err)
	}
	if _, err := ParseControls("reinit,shuffle"); err == nil {
		t.Error("ParseControls accepted shuffle")
	}
	a, b := good, good
	b.Seed = 2
	if a.Hash() == b.Hash() || a.Hash() != good.Hash() {
		t.Error("Hash must be stable and depend on the seed")
	}
}
