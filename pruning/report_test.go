package pruning

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestMeasureModel(t *testing.T) {
	tests := []struct {
		name  string
		fn    ModelFn
		input shapes.Shape
		want  *ModelInfo
	}{
		{"mlp", mlp, shapes.Make(dtypes.Float32, 5, blobFeatures), &ModelInfo{
			Variables: []string{"/fc0/dense/biases", "/fc0/dense/weights", "/fc1/dense/biases", "/fc1/dense/weights"},
			Positions: map[string]int64{"/fc0/dense/weights": 1, "/fc1/dense/weights": 1},
		}},
		// c0: 6x6 -> 4x4 (16 positions); c1: 4x4 -> 2x2 (4 positions).
		{"convnet", convNet, shapes.Make(dtypes.Float32, 3, 6, 6, 2), &ModelInfo{
			Variables: []string{"/c0/conv/biases", "/c0/conv/weights", "/c1/conv/biases", "/c1/conv/weights",
				"/out/dense/biases", "/out/dense/weights"},
			Positions: map[string]int64{"/c0/conv/weights": 16, "/c1/conv/weights": 4, "/out/dense/weights": 1},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := MeasureModel(backend(t), newContext(), tc.fn, tc.input)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ModelInfo (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReportConvNet(t *testing.T) {
	ctx := newContext()
	info, err := MeasureModel(backend(t), ctx, convNet, shapes.Make(dtypes.Float32, 1, 6, 6, 2))
	if err != nil {
		t.Fatal(err)
	}
	if err := ctx.InitializeVariables(backend(t), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := AttachMasks(ctx, Selector{}); err != nil {
		t.Fatal(err)
	}
	// Half of c0's filters, then half of c1's weights, unstructured; out stays dense.
	if _, err := PruneOnce(ctx, Config{Structure: OutputChannels{}, Skip: []string{"/c1/**", "/out/**"}},
		Sparsity(0.5)); err != nil {
		t.Fatal(err)
	}
	if _, err := PruneOnce(ctx, Config{Skip: []string{"/c0/**", "/out/**"}}, Sparsity(0.5)); err != nil {
		t.Fatal(err)
	}
	r, err := NewReport(ctx, info)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		Path                    string
		Params, NonZero         int
		Dense, Eff, Structured  int64
		ZeroOutputs, ZeroInputs int
	}
	var got []row
	for _, l := range r.Layers {
		got = append(got, row{l.Path, l.Params, l.NonZero, l.DenseFLOPs, l.EffectiveFLOPs, l.StructuredFLOPs,
			l.ZeroOutputs, l.ZeroInputs})
	}
	want := []row{
		{"/c0/conv/biases", 4, 0, 0, 0, 0, 0, 0}, // zero-initialized biases
		{"/c0/conv/weights", 72, 36, 72 * 16, 36 * 16, 72 * 16 / 2, 2, 0},
		{"/c1/conv/biases", 6, 0, 0, 0, 0, 0, 0},
		{"/c1/conv/weights", 216, 108, 216 * 4, 108 * 4, 216 * 4, 0, 0},
		{"/out/dense/biases", 3, 0, 0, 0, 0, 0, 0},
		{"/out/dense/weights", 72, 72, 72, 72, 72, 0, 0},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("layers (-want +got):\n%s", diff)
	}
	wantTotals := &Report{Params: 373, NonZero: 216, MaskedParams: 360, MaskedNonZero: 216, MaskedSparsity: 0.4,
		DenseFLOPs: 1152 + 864 + 72, EffectiveFLOPs: 576 + 432 + 72, StructuredFLOPs: 576 + 864 + 72}
	wantTotals.Sparsity = 1 - 216.0/373
	wantTotals.Compression = 373.0 / 216
	wantTotals.Speedup = 2088.0 / 1080
	wantTotals.StructuredSpeedup = 2088.0 / 1512
	if diff := cmp.Diff(wantTotals, r, cmpopts.IgnoreFields(Report{}, "Layers", "Warnings"),
		cmpopts.EquateApprox(0, 1e-12)); diff != "" {
		t.Errorf("totals (-want +got):\n%s", diff)
	}
	if len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], "unstructured sparsity") {
		t.Errorf("warnings %q, want the unstructured-speedup warning", r.Warnings)
	}
	js, err := r.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(r, &back); diff != "" {
		t.Errorf("JSON round trip (-want +got):\n%s", diff)
	}
}

func TestReport2to4(t *testing.T) {
	ctx := contextWith(t, layerSpec{"/a/dense/weights", []int{8, 2}, seq(16, 1)})
	if _, err := PruneOnce(ctx, Config{Structure: NM{N: 2, M: 4}}, Sparsity(0)); err != nil {
		t.Fatal(err)
	}
	r, err := NewReport(ctx, &ModelInfo{Variables: []string{"/a/dense/weights"},
		Positions: map[string]int64{"/a/dense/weights": 1}})
	if err != nil {
		t.Fatal(err)
	}
	if l := r.Layers[0]; !l.Is2to4 || l.Sparsity != 0.5 {
		t.Errorf("layer %+v: want 2:4 at 50%% sparsity", l)
	}
	if len(r.Warnings) != 0 {
		t.Errorf("2:4 sparsity should not warn, got %q", r.Warnings)
	}
}
