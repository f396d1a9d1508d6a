package pruning

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestSensitivityTableAmounts(t *testing.T) {
	table := &SensitivityTable{
		Baseline:   1,
		Sparsities: []float64{0.5, 0.9},
		Layers: []SensitivityRow{
			{Path: "/a", Params: 100, Metrics: []float64{1.0, 0.8}},
			{Path: "/b", Params: 300, Metrics: []float64{0.9, 0.5}},
		},
	}
	approx := cmpopts.EquateApprox(0, 1e-9)
	amounts, overall := table.AmountsForDrop(0.1)
	if diff := cmp.Diff(map[string]float64{"/a": 0.7, "/b": 0.5}, amounts, approx); diff != "" {
		t.Errorf("AmountsForDrop(0.1) (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(0.55, overall, approx); diff != "" {
		t.Errorf("overall (-want +got):\n%s", diff)
	}
	// Between drops 0.1 and 0.2: a = 0.5+2δ, b = 0.4+δ, overall (170+500δ)/400 = 0.6 at δ = 0.14.
	amounts, drop, err := table.AmountsForSparsity(0.6)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]float64{"/a": 0.78, "/b": 0.54}, amounts, cmpopts.EquateApprox(0, 1e-6)); diff != "" {
		t.Errorf("AmountsForSparsity(0.6) (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(0.14, drop, cmpopts.EquateApprox(0, 1e-6)); diff != "" {
		t.Errorf("drop (-want +got):\n%s", diff)
	}
	if _, _, err := table.AmountsForSparsity(0.95); !errors.Is(err, ErrUnreachable) {
		t.Errorf("AmountsForSparsity(0.95): %v, want ErrUnreachable", err)
	}
	var buf bytes.Buffer
	if err := table.WriteCSV(&buf); err != nil {
		t.Fatal(err)
	}
	wantCSV := "layer,params,0,0.5,0.9\n/a,100,1,1,0.8\n/b,300,1,0.9,0.5\n"
	if diff := cmp.Diff(wantCSV, buf.String()); diff != "" {
		t.Errorf("CSV (-want +got):\n%s", diff)
	}
	js, err := json.Marshal(table)
	if err != nil {
		t.Fatal(err)
	}
	wantJSON := `{"baseline":1,"sparsities":[0.5,0.9],"layers":[{"path":"/a","params":100,"metrics":[1,0.8]},` +
		`{"path":"/b","params":300,"metrics":[0.9,0.5]}]}`
	if diff := cmp.Diff(wantJSON, string(js)); diff != "" {
		t.Errorf("JSON (-want +got):\n%s", diff)
	}
}

func TestSensitivityOnModel(t *testing.T) {
	ctx := newContext()
	b := newBlobs(96, 1)
	tr := newTrainer(t, ctx, mlp, Selector{})
	trainSteps(t, tr, b, 40)
	exec, err := context.NewExec(backend(t), ctx.Reuse(), func(ctx *context.Context, x *graph.Node) *graph.Node {
		return graph.ArgMax(mlp(ctx, x), -1)
	})
	if err != nil {
		t.Fatal(err)
	}
	evals := 0
	eval := func() (float64, error) {
		evals++
		out, err := exec.Exec(b.inputs())
		if err != nil {
			return 0, err
		}
		pred := tensors.MustCopyFlatData[int32](out[0])
		correct := 0
		for i, p := range pred {
			if p == b.y[i] {
				correct++
			}
		}
		return float64(correct) / float64(len(pred)), nil
	}
	before, _ := GetMasks(ctx)
	w0 := weightsOf(t, ctx, "/fc0/dense/weights")
	table, err := Sensitivity(ctx, Config{}, []float64{0.5, 0.99}, eval)
	if err != nil {
		t.Fatal(err)
	}
	if evals != 5 {
		t.Errorf("%d evaluations, want 5", evals)
	}
	if table.Baseline < 0.9 {
		t.Errorf("baseline %.3f, want >= 0.9", table.Baseline)
	}
	var paths []string
	for _, row := range table.Layers {
		paths = append(paths, row.Path)
		// Pruning 99% of a layer (all of fc1's 48 weights, 127 of fc0's 128) leaves about a
		// constant prediction: near 1/3 accuracy.
		if m := row.Metrics[1]; m > 0.5 {
			t.Errorf("%s at sparsity 0.99: accuracy %.3f, want about chance level", row.Path, m)
		}
	}
	if diff := cmp.Diff([]string{"/fc0/dense/weights", "/fc1/dense/weights"}, paths); diff != "" {
		t.Errorf("layers (-want +got):\n%s", diff)
	}
	after, _ := GetMasks(ctx)
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("masks not restored (-before +after):\n%s", diff)
	}
	if diff := cmp.Diff(w0, weightsOf(t, ctx, "/fc0/dense/weights")); diff != "" {
		t.Errorf("weights not restored (-before +after):\n%s", diff)
	}
}
