package lottery

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prunelab/prunelab/training"
)

func writeSweep(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "sweep.json")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSweepEntries(t *testing.T) {
	s, err := LoadSweep(writeSweep(t, `{"preset": "smoke", "set": {"iterations": "60it", "levels": 1},
		"grid": {"rewind": ["init", "20it"], "replicate": [1, 2, 3], "controls": ["reinit", "none"]}}`))
	if err != nil {
		t.Fatal(err)
	}
	entries, err := s.Entries()
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 12 {
		t.Fatalf("%d entries, want 2×3×2 = 12", len(entries))
	}
	// Keys sorted (controls, replicate, rewind); the last varies fastest.
	e5 := entries[5]
	if e5.Label != "controls=reinit replicate=3 rewind=20it" {
		t.Errorf("entry 5 label %q", e5.Label)
	}
	ex := e5.Experiment
	if ex.Only != 3 || ex.Replicates != 3 || ex.Config.Rewind != "20it" || len(ex.Controls) != 1 ||
		ex.Config.Iterations != (training.Length{Steps: 60}) || ex.Config.Levels != 1 {
		t.Errorf("entry 5 = %+v", ex)
	}
	if len(entries[6].Experiment.Controls) != 0 {
		t.Errorf("controls=none gave %v", entries[6].Experiment.Controls)
	}
	// Entries differing only in replicate share a run directory; rewind points do not.
	if entries[0].Experiment.Config.Hash() != entries[2].Experiment.Config.Hash() ||
		entries[0].Experiment.Config.Hash() == entries[1].Experiment.Config.Hash() {
		t.Error("run directories must be shared across replicates and split across rewind points")
	}
	if _, err := s.Entry(12); err == nil || !strings.Contains(err.Error(), "sweep index 12 out of range 0..11") {
		t.Errorf("Entry(12) error = %v", err)
	}
	if _, err := s.Entry(-1); err == nil {
		t.Error("Entry(-1) succeeded")
	}
}

func TestSweepBadInput(t *testing.T) {
	for body, want := range map[string]string{
		`{"preset": "smoke", "grid": {"learning_rate": [0.1]}}`: `unknown field "learning_rate"`,
		`{"preset": "smoke", "grid": {"scope": ["blockwise"]}}`: `scope "blockwise"`,
		`{"preset": "smoke", "grid": {"replicate": [0]}}`:       "replicate must be a positive integer",
		`{"preset": "smoke", "grid": {"seed": []}}`:             `grid "seed" has no values`,
		`{"preset": "giant"}`:                                   `unknown preset "giant"`,
		`{"preset": "smoke", "sett": {}}`:                       `unknown field "sett"`,
	} {
		s, err := LoadSweep(writeSweep(t, body))
		if err == nil {
			_, err = s.Entries()
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q", body, err, want)
		}
	}
}
