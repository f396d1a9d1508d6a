package experiment

import (
	"os"
	"path/filepath"

	"github.com/prunelab/prunelab/training"
)

// Budget is how much computing a notebook (or a script) spends: [Full] reproduces the published
// figures, [Smoke] is small enough for CI and only checks that everything runs.
type Budget string

// The budgets.
const (
	Full  Budget = "full"
	Smoke Budget = "smoke"
)

// EnvBudget is the environment variable that selects the budget: "smoke" selects [Smoke],
// anything else (or nothing) [Full].
const EnvBudget = "PRUNELAB_BUDGET"

// EnvRuns is the environment variable naming the directory notebooks write their runs under
// (default ~/prunelab-runs).
const EnvRuns = "PRUNELAB_RUNS"

// BudgetFromEnv returns the budget $PRUNELAB_BUDGET selects.
func BudgetFromEnv() Budget {
	if os.Getenv(EnvBudget) == string(Smoke) {
		return Smoke
	}
	return Full
}

// Length returns the training length for the budget: full on [Full], smoke on [Smoke]. Both are
// lengths as [training.ParseLength] reads them ("3ep", "150it"); it panics on a malformed one, a
// programming error in the calling notebook.
func (b Budget) Length(full, smoke string) training.Length {
	if b == Smoke {
		return training.MustParseLength(smoke)
	}
	return training.MustParseLength(full)
}

// Int returns full on [Full] and smoke on [Smoke] (image counts, repetitions, ...).
func (b Budget) Int(full, smoke int) int {
	if b == Smoke {
		return smoke
	}
	return full
}

// RunsRoot is where notebooks write their runs: $PRUNELAB_RUNS, or ~/prunelab-runs.
func RunsRoot() string {
	if d := os.Getenv(EnvRuns); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "prunelab-runs"
	}
	return filepath.Join(home, "prunelab-runs")
}

// RunDir is a notebook's run directory for name at this budget: RunsRoot()/budget/name, so that a
// smoke run never overwrites the results of a full one.
func (b Budget) RunDir(name string) string { return filepath.Join(RunsRoot(), string(b), name) }

// MNIST returns the Lottery Ticket split of MNIST (55,000 training, 5,000 validation and 10,000
// test images, validation chosen with seed 1); on [Smoke], 3,000, 1,000 and 1,000 of them.
func (b Budget) MNIST() (*Splits, error) {
	o := DataOptions{Dataset: "mnist", Validation: 5000, Seed: 1}
	if b == Smoke {
		o.TrainLimit, o.TestLimit = 3000, 1000
	}
	s, err := LoadData(o)
	if err == nil && b == Smoke {
		s.Validation = s.Validation.Subset(1000)
	}
	return s, err
}
