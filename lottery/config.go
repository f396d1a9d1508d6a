package lottery

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/prunelab/prunelab/training"
)

// Config is everything that changes an experiment's numbers. Its hash names the run directory, so
// the same Config always resumes the same run. Display options, paths, the number of replicates and
// the controls to run are not part of it: adding replicates or controls extends a run.
type Config struct {
	// Model is a registry name (models.ByName), e.g. "lenet-300-100".
	Model string `json:"model"`
	// Dataset is a datasets name; empty means the model's own.
	Dataset string `json:"dataset"`
	// Iterations is the training length of each level, counted from initialization: a level rewound
	// to step k trains Iterations−k steps.
	Iterations training.Length `json:"iterations"`
	// Batch is the training batch size.
	Batch int `json:"batch"`
	// Optimizer ("adam", "sgd", "momentum") and its learning rate.
	Optimizer string  `json:"optimizer"`
	LR        float64 `json:"lr"`
	// Validation is the number of training images held out to find the early-stopping iteration.
	Validation int `json:"validation"`
	// TrainLimit and TestLimit, when positive, use only that many images (smoke budgets).
	TrainLimit int `json:"train_limit,omitempty"`
	TestLimit  int `json:"test_limit,omitempty"`
	// EvalEvery evaluates validation and test every that many iterations (the paper: 100).
	EvalEvery int `json:"eval_every"`
	// Levels is the number of pruning levels after the dense level 0.
	Levels int `json:"levels"`
	// PruneRate is the fraction of the surviving weights of each layer pruned at each level (the
	// paper: 0.2 for LeNet's fully connected layers), and OutputPruneRate that of the output layer
	// (the paper: 0.1, half the rate).
	PruneRate       float64 `json:"prune_rate"`
	OutputPruneRate float64 `json:"output_prune_rate"`
	// Scope is "layerwise" (each layer loses PruneRate of its survivors) or "global" (the hidden
	// layers' survivors are ranked together; the output layer keeps its own rate).
	Scope string `json:"scope"`
	// Rewind is where surviving weights go back to before retraining: "init" (θ0, Frankle & Carbin
	// 2019), an iteration such as "1000it" or "2ep" (rewinding, Frankle et al. 2020), or "lr"
	// (learning-rate rewinding, Renda et al. 2020: the trained weights are kept and retrained for
	// Iterations steps with a fresh optimizer and the learning-rate schedule from its start).
	Rewind string `json:"rewind"`
	// Seed of replicate 1; replicate r uses Seed+r−1 for initialization and data order.
	Seed int64 `json:"seed"`
}

// Control names the control experiments (branches) run beside the winning-ticket branch.
const (
	// Main is the winning-ticket branch: prune by magnitude, rewind the survivors.
	Main = "main"
	// Reinit is the random re-initialization control of Frankle & Carbin 2019: the ticket's mask,
	// fresh random weights.
	Reinit = "reinit"
	// RandomMask is the random pruning control: the ticket's per-layer sparsities with a random mask,
	// and the rewind weights.
	RandomMask = "random-mask"
)

// Controls lists the control branches in the order they run.
var Controls = []string{Reinit, RandomMask}

// Hash names a run directory: the first 12 hex digits of the SHA-256 of the JSON of c.
func (c Config) Hash() string {
	b, err := json.Marshal(c)
	if err != nil {
		panic(err) // A struct of strings and numbers always marshals.
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])[:12]
}

// Validate reports the first thing wrong with c.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("lottery: "+format, args...)) }
	if c.Model == "" {
		bad("model is empty")
	}
	if c.Iterations.Steps <= 0 && c.Iterations.Epochs <= 0 {
		bad("iterations must be positive, got %s", c.Iterations)
	}
	if c.Batch < 1 {
		bad("batch must be positive, got %d", c.Batch)
	}
	if c.LR <= 0 || math.IsNaN(c.LR) {
		bad("lr must be positive, got %g", c.LR)
	}
	if c.Validation < 1 {
		bad("validation must hold at least one image (it finds the early-stopping iteration), got %d", c.Validation)
	}
	if c.EvalEvery < 1 {
		bad("eval_every must be positive, got %d", c.EvalEvery)
	}
	if c.Levels < 0 {
		bad("levels must be >= 0, got %d", c.Levels)
	}
	for name, r := range map[string]float64{"prune_rate": c.PruneRate, "output_prune_rate": c.OutputPruneRate} {
		if !(r >= 0 && r < 1) {
			bad("%s must be in [0, 1), got %g", name, r)
		}
	}
	if !slices.Contains([]string{"layerwise", "global"}, c.Scope) {
		bad("scope %q: want layerwise or global", c.Scope)
	}
	if _, err := c.rewind(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// rewindPoint is a parsed Config.Rewind.
type rewindPoint struct {
	// lr is learning-rate rewinding: no weight rewinding.
	lr bool
	// at is the rewind iteration (zero: initialization).
	at training.Length
}

func (c Config) rewind() (rewindPoint, error) {
	switch c.Rewind {
	case "init", "":
		return rewindPoint{}, nil
	case "lr":
		return rewindPoint{lr: true}, nil
	}
	l, err := training.ParseLength(c.Rewind)
	if err != nil {
		return rewindPoint{}, fmt.Errorf("lottery: rewind %q: want init, lr, or an iteration such as 1000it or 2ep", c.Rewind)
	}
	return rewindPoint{at: l}, nil
}

// Preset is a named budget: a Config with the replicates and controls it runs.
type Preset struct {
	Name        string
	Description string
	Config      Config
	Replicates  int
	Controls    []string
}

// Presets are the named budgets of `prunelab lottery -preset`.
var Presets = []Preset{
	{
		Name:        "smoke",
		Description: "seconds: a tiny LeNet-300-100 run for tests and CI",
		Config: Config{Model: "lenet-300-100", Dataset: "mnist", Iterations: training.Length{Steps: 30}, Batch: 60,
			Optimizer: "adam", LR: 1.2e-3, Validation: 300, TrainLimit: 1200, TestLimit: 500, EvalEvery: 15,
			Levels: 2, PruneRate: 0.5, OutputPruneRate: 0.25, Scope: "layerwise", Rewind: "init", Seed: 1},
		Replicates: 1,
		Controls:   []string{Reinit},
	},
	{
		Name: "quick",
		Description: "the main-job demo, under 10 minutes on 2 cores: LeNet-300-100 down to 13.5% of its weights, " +
			"winning tickets against random re-initialization",
		Config: Config{Model: "lenet-300-100", Dataset: "mnist", Iterations: training.Length{Steps: 500}, Batch: 60,
			Optimizer: "adam", LR: 1.2e-3, Validation: 5000, EvalEvery: 250,
			Levels: 9, PruneRate: 0.2, OutputPruneRate: 0.1, Scope: "layerwise", Rewind: "init", Seed: 1},
		Replicates: 1,
		Controls:   []string{Reinit},
	},
	{
		Name: "paper",
		Description: "Frankle & Carbin 2019, LeNet-300-100 (Figures 3 and 4): 50,000 iterations per level, " +
			"down to 3.6% of weights, 5 replicates, both controls; hours on a CPU",
		Config: Config{Model: "lenet-300-100", Dataset: "mnist", Iterations: training.Length{Steps: 50000}, Batch: 60,
			Optimizer: "adam", LR: 1.2e-3, Validation: 5000, EvalEvery: 100,
			Levels: 15, PruneRate: 0.2, OutputPruneRate: 0.1, Scope: "layerwise", Rewind: "init", Seed: 1},
		Replicates: 5,
		Controls:   []string{Reinit, RandomMask},
	},
}

// PresetByName returns a preset, or an error listing the known names.
func PresetByName(name string) (Preset, error) {
	var names []string
	for _, p := range Presets {
		if p.Name == name {
			return p, nil
		}
		names = append(names, p.Name)
	}
	return Preset{}, fmt.Errorf("lottery: unknown preset %q (known: %s)", name, strings.Join(names, ", "))
}

// ParseControls reads a comma-separated list of controls ("reinit,random-mask"; "" or "none" for none).
func ParseControls(s string) ([]string, error) {
	if s == "" || s == "none" {
		return nil, nil
	}
	var out []string
	for _, c := range strings.Split(s, ",") {
		c = strings.TrimSpace(c)
		if !slices.Contains(Controls, c) {
			return nil, fmt.Errorf("lottery: unknown control %q (known: %s)", c, strings.Join(Controls, ", "))
		}
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out, nil
}
