package models_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/prunelab/prunelab/backend"
	"github.com/prunelab/prunelab/datasets"
	"github.com/prunelab/prunelab/models"
	"github.com/prunelab/prunelab/program"
)

// TestViTTinyLearnsMNIST trains vit-tiny on 300 MNIST images for 30 steps on the pure-Go backend,
// then traces it: every dense layer is a multiplication by a variable's matrix (what one-shot
// calibration pruning and quantization work on), in program order.
func TestViTTinyLearnsMNIST(t *testing.T) {
	data, err := datasets.Load("mnist", datasets.Options{})
	if err != nil {
		t.Skipf("MNIST unavailable here: %v", err)
	}
	m := mustModel(t, "vit-tiny")
	s, before, after := trainBriefly(t, m, data.Train.Subset(300), 30, 30)
	if after > 0.95*before { // a transformer starts slower than a convnet (no warm-up here)
		t.Errorf("vit-tiny: loss only went from %.4f to %.4f", before, after)
	}
	p, err := program.Trace(s.Backend(), s.Context(), m.Build, shapes.Make(dtypes.Float32, m.InputShape...))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, mm := range p.MatMuls() {
		names = append(names, strings.TrimPrefix(mm.Var, "/"))
	}
	want := []string{"embed/dense/weights"}
	for i := range 4 {
		b := "block" + string(rune('0'+i))
		for _, l := range []string{"attn/q", "attn/k", "attn/v", "attn/out", "mlp/up", "mlp/down"} {
			want = append(want, b+"/"+l+"/dense/weights")
		}
	}
	want = append(want, "head/dense/weights")
	if len(names) != len(want) {
		t.Fatalf("matrix multiplications %v, want %d of them: %v", names, len(want), want)
	}
	got := map[string]bool{}
	for _, n := range names {
		got[n] = true
	}
	for _, w := range want {
		if !got[w] {
			t.Errorf("no matrix multiplication by %s among %v", w, names)
		}
	}
}

func TestViTRejectsBadConfigs(t *testing.T) {
	b, err := backend.NewPureGo()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		cfg  models.ViTConfig
		want string
	}{
		{models.ViTConfig{Patch: 5, Width: 64, Heads: 4, MLP: 8, Blocks: 1, NumClasses: 10}, "multiples of 5"},
		{models.ViTConfig{Patch: 4, Width: 64, Heads: 3, MLP: 8, Blocks: 1, NumClasses: 10}, "width 64 is not a multiple of the 3 heads"},
		{models.ViTConfig{Patch: 4, Width: 64, Heads: 4, MLP: 8, Blocks: 2, NumClasses: 10, BlockHeads: []int{4, 0}},
			"block 1 needs 1..4 heads"},
	} {
		func() {
			defer func() {
				r := recover()
				if r == nil || !strings.Contains(fmt.Sprint(r), tc.want) {
					t.Errorf("%+v: panic %v, want %q", tc.cfg, r, tc.want)
				}
			}()
			g := graph.NewGraph(b, "vit")
			x := graph.Parameter(g, "x", shapes.Make(dtypes.Float32, 2, 28, 28, 1))
			tc.cfg.Build(context.New(), x)
		}()
	}
}
