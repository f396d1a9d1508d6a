package pruning

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/google/go-cmp/cmp"
)

// torchFixture is pruning/testdata/torch_masks.json, written by scripts/peers/torch_masks.py.
type torchFixture struct {
	Torch string `json:"torch"`
	Cases []struct {
		Name   string  `json:"name"`
		Method string  `json:"method"`
		Amount float64 `json:"amount"`
		N      float64 `json:"n"`
		Params []struct {
			Kind   string    `json:"kind"`  // "linear" or "conv2d"
			Shape  []int     `json:"shape"` // PyTorch's: [out, in] or [out, in, kh, kw]
			Weight []float64 `json:"weight"`
			Mask   string    `json:"mask"`
		} `json:"params"`
	} `json:"cases"`
}

func readTorchFixture(t *testing.T, path string) *torchFixture {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f torchFixture
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(f.Cases) == 0 {
		t.Fatalf("%s: no cases", path)
	}
	return &f
}

// TestTorchParity checks that, for the same weights and amount, our masks equal those PyTorch's
// l1_unstructured, global_unstructured (L1) and ln_structured (n=1, 2, along output units)
// produced, ties included, with TiesLikeTorch; and that with the default TiesByPosition they
// differ at most in which of the tied weights are pruned.
func TestTorchParity(t *testing.T) {
	checkTorchFixture(t, readTorchFixture(t, filepath.Join("testdata", "torch_masks.json")))
}

// TestTorchParityLive regenerates the fixture with PyTorch when it is installed and checks it
// is the committed one and that our masks equal the fresh ones.
func TestTorchParityLive(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	python := ""
	for _, p := range []string{"python3", "/usr/bin/python3"} { // Debian's torch is for the system python
		if path, err := exec.LookPath(p); err == nil && exec.Command(path, "-c", "import torch").Run() == nil {
			python = path
			break
		}
	}
	if python == "" {
		t.Skip("no python3 with PyTorch (Debian: python3-torch)")
	}
	out := filepath.Join(t.TempDir(), "torch_masks.json")
	cmd := exec.Command(python, filepath.Join("..", "scripts", "peers", "torch_masks.py"), "--out", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("torch_masks.py: %v\n%s", err, b)
	}
	fresh := readTorchFixture(t, out)
	committed := readTorchFixture(t, filepath.Join("testdata", "torch_masks.json"))
	if fresh.Torch == committed.Torch {
		if diff := cmp.Diff(committed, fresh); diff != "" {
			t.Errorf("torch %s gives other masks than the committed fixture; regenerate it with "+
				"scripts/peers/torch_masks.py (-committed +fresh):\n%s", fresh.Torch, diff)
		}
	}
	checkTorchFixture(t, fresh)
}

func checkTorchFixture(t *testing.T, f *torchFixture) {
	tiesDiffer := 0
	for _, c := range f.Cases {
		t.Run(c.Name, func(t *testing.T) {
			cfg := Config{Ties: TiesLikeTorch}
			switch c.Method {
			case "l1_unstructured":
				cfg.Allocation = LayerWise{}
			case "global_unstructured":
				cfg.Allocation = Global{}
			case "ln_structured":
				cfg.Structure = OutputChannels{}
				cfg.Criterion = LnNormCriterion{P: c.N}
			default:
				t.Fatalf("unknown method %q", c.Method)
			}
			// Our variables: Linear weights transposed to [in, out], Conv2d kernels to [kh, kw, in, out].
			ctx := context.New()
			var paths []string
			want := map[string]string{}
			for i, p := range c.Params {
				var scope string
				var values []float32
				var shape []int
				switch p.Kind {
				case "linear":
					scope = fmt.Sprintf("/fc%d/dense", i)
					shape = []int{p.Shape[1], p.Shape[0]}
				case "conv2d":
					scope = fmt.Sprintf("/c%d/conv", i)
					shape = []int{p.Shape[2], p.Shape[3], p.Shape[1], p.Shape[0]}
				}
				values = make([]float32, len(p.Weight))
				target := Target{Scope: scope, Name: "weights", Shape: shape, Kind: KindDense, In: Axes{0, 1},
					Out: Axes{1, 2}}
				if p.Kind == "conv2d" {
					target.Kind, target.In, target.Out = KindConv, Axes{2, 3}, Axes{3, 4}
				}
				order := torchLayout(target)
				for tp, ours := range order {
					values[ours] = float32(p.Weight[tp])
				}
				ctx.InAbsPath(scope).VariableWithValue("weights", tensors.FromFlatDataAndDimensions(values, shape...))
				paths = append(paths, target.Path())
				want[target.Path()] = p.Mask
			}
			if _, err := AttachMasks(ctx, Selector{}); err != nil {
				t.Fatal(err)
			}
			got := torchMasks(t, ctx, cfg, Sparsity(c.Amount), paths)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("TiesLikeTorch masks differ from PyTorch's (-torch +ours):\n%s", diff)
			}

			// The default tie-breaking prunes as many weights, and the same ones except among ties.
			cfg.Ties = TiesByPosition
			byPos := torchMasks(t, ctx, cfg, Sparsity(c.Amount), paths)
			scores, err := ComputeScores(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			differ := false
			for _, path := range paths {
				if countZeros(byPos[path]) != countZeros(want[path]) && c.Method != "global_unstructured" {
					t.Errorf("%s: TiesByPosition pruned %d, PyTorch %d", path, countZeros(byPos[path]),
						countZeros(want[path]))
				}
				differ = differ || byPos[path] != want[path]
			}
			if differ {
				t.Logf("TiesByPosition breaks ties otherwise than PyTorch here")
				tiesDiffer++
				checkDifferOnlyInTies(t, ctx, cfg, scores, paths, want, byPos)
			}
		})
	}
	if tiesDiffer == 0 {
		t.Errorf("no case has ties that TiesByPosition breaks otherwise than PyTorch: the fixture does not test ties")
	}
	t.Logf("%d of %d cases break ties otherwise with TiesByPosition", tiesDiffer, len(f.Cases))
}

// torchMasks prunes a fresh copy of ctx's masks and returns them as 0/1 strings in PyTorch's layout.
func torchMasks(t *testing.T, ctx *context.Context, cfg Config, a Amount, paths []string) map[string]string {
	t.Helper()
	masks, _, err := ComputeMasks(ctx, cfg, a)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	targets := map[string]Target{}
	for _, tg := range Targets(ctx) {
		targets[tg.Path()] = tg
	}
	for _, p := range paths {
		var b strings.Builder
		for _, ours := range torchLayout(targets[p]) {
			if masks[p].Keep[ours] {
				b.WriteByte('1')
			} else {
				b.WriteByte('0')
			}
		}
		out[p] = b.String()
	}
	return out
}

// checkDifferOnlyInTies checks that two masks with the same number of pruned units disagree only
// on units whose scores tie with the largest pruned score.
func checkDifferOnlyInTies(t *testing.T, ctx *context.Context, cfg Config, scores map[string][]float64,
	paths []string, a, b map[string]string) {
	t.Helper()
	// Unit scores in PyTorch's layout: element scores, or the group's for structured pruning.
	unitScore := func(path string) []float64 {
		var tg Target
		for _, x := range Targets(ctx) {
			if x.Path() == path {
				tg = x
			}
		}
		order := torchLayout(tg)
		out := make([]float64, len(order))
		group, n, _ := cfg.structure().Groups(tg)
		gs, _, _ := groupScores(scores[path], group, n, nil, cfg.Reduction)
		for tp, ours := range order {
			out[tp] = gs[group[ours]]
		}
		return out
	}
	threshold := -1.0
	for _, p := range paths {
		s := unitScore(p)
		for i := range s {
			if a[p][i] == '0' {
				threshold = max(threshold, s[i])
			}
		}
	}
	for _, p := range paths {
		s := unitScore(p)
		for i := range s {
			if a[p][i] != b[p][i] && s[i] != threshold {
				t.Errorf("%s[%d] (score %g): PyTorch %c, TiesByPosition %c, but the score does not tie with the "+
					"pruning threshold %g", p, i, s[i], a[p][i], b[p][i], threshold)
			}
		}
	}
}
