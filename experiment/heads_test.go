package experiment

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/prunelab/prunelab/distill"
	"github.com/prunelab/prunelab/models"
	"github.com/prunelab/prunelab/program"
	"github.com/prunelab/prunelab/training"
)

// TestHeadImportanceAndMasking scores a briefly trained vit-tiny's heads (Michel et al.), masks the
// least important, and checks that a masked head is exactly a head whose output-projection rows are
// zero; masking every head of a layer is refused.
func TestHeadScoresLayersInBlockOrder(t *testing.T) {
	h := HeadScores{"/block10/attn/head_gates": nil, "/block2/attn/head_gates": nil, "/block0/attn/head_gates": nil}
	want := []string{"/block0/attn/head_gates", "/block2/attn/head_gates", "/block10/attn/head_gates"}
	if got := h.Layers(); !slices.Equal(got, want) {
		t.Errorf("Layers() = %v, want %v", got, want)
	}
}

func TestHeadImportanceAndMasking(t *testing.T) {
	data, err := LoadData(DataOptions{TrainLimit: 600, TestLimit: 120})
	if err != nil {
		t.Skipf("MNIST: %v", err)
	}
	m, err := models.ByName("vit-tiny")
	if err != nil {
		t.Fatal(err)
	}
	s, err := training.NewSession(training.Config{Model: m, Seed: 1, BatchSize: 30})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetTrainData(data.Train); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Train(training.Length{Steps: 10}); err != nil {
		t.Fatal(err)
	}
	scores, err := HeadImportance(s, m, data.Train, 3)
	if err != nil {
		t.Fatal(err)
	}
	if got := scores.Layers(); len(got) != 4 || got[0] != "/block0/attn/"+models.HeadGates {
		t.Fatalf("layers %v, want the 4 blocks' head gates", got)
	}
	for l, sc := range scores {
		norm := 0.0
		for _, x := range sc {
			norm += x * x
		}
		if len(sc) != 4 || math.Abs(norm-1) > 1e-9 {
			t.Errorf("%s: scores %v, want 4 heads normalized to L2 norm 1", l, sc)
		}
	}
	masked, err := LeastImportantHeads(scores, 4)
	if err != nil {
		t.Fatal(err)
	}
	before, err := s.Evaluate(data.Test)
	if err != nil {
		t.Fatal(err)
	}
	if err := MaskHeads(s.Context(), masked); err != nil {
		t.Fatal(err)
	}
	p, values, err := TraceSession(s, m)
	if err != nil {
		t.Fatal(err)
	}
	// The same model with the gates back at one and the masked heads' rows of the output projection
	// zeroed computes the same logits.
	zeroed := map[string][]float32{}
	for k, v := range values {
		zeroed[k] = append([]float32(nil), v...)
	}
	for _, r := range masked {
		layer := strings.TrimSuffix(r.Layer, "/"+models.HeadGates)
		w := zeroed[layer+"/out/dense/weights"]
		clear(w[r.Head*16*64 : (r.Head+1)*16*64])
	}
	for k := range zeroed {
		if strings.HasSuffix(k, models.HeadGates) {
			for i := range zeroed[k] {
				zeroed[k][i] = 1
			}
		}
	}
	x, err := distill.Inputs(data.Test, 32, s.Config().Normalization)
	if err != nil {
		t.Fatal(err)
	}
	a, b := logitsOf(t, s, p, values, x), logitsOf(t, s, p, zeroed, x)
	d := 0.0
	for i := range a {
		d = math.Max(d, math.Abs(float64(a[i]-b[i])))
	}
	if d > 1e-5 {
		t.Errorf("masked heads vs their output rows zeroed: logits differ by %g", d)
	}
	// Removed physically: the smaller model computes the masked one's logits.
	smallValues, kept, err := RemoveHeads(values, masked, 4, 4, 16)
	if err != nil {
		t.Fatal(err)
	}
	cfg := models.ViTTiny
	cfg.BlockHeads = kept
	small, err := program.Trace(s.Backend(), context.New(), cfg.Build, shapes.Make(dtypes.Float32, 28, 28, 1))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := small.NumParams(), p.NumParams()-4*(3*(64*16+16)+16*64+1); got != want {
		t.Errorf("without 4 heads: %d parameters, want %d", got, want)
	}
	c := logitsOf(t, s, small, smallValues, x)
	d = 0.0
	for i := range a {
		d = math.Max(d, math.Abs(float64(a[i]-c[i])))
	}
	if d > 1e-5 {
		t.Errorf("heads removed (%v kept per block) vs masked: logits differ by %g", kept, d)
	}
	if _, _, err := RemoveHeads(values, all4(2), 4, 4, 16); !errors.Is(err, ErrOptions) {
		t.Errorf("removing every head of block 2: %v", err)
	}

	after, err := s.Evaluate(data.Test)
	if err != nil {
		t.Fatal(err)
	}
	traced, err := ProgramAccuracy(s.Backend(), p, values, data.Test, s.Config().Normalization)
	if err != nil || math.Abs(traced-after.Accuracy) > 1e-6 {
		t.Errorf("masked model: session accuracy %.4f, traced %.4f (%v)", after.Accuracy, traced, err)
	}
	t.Logf("4 of 16 heads masked %v: test accuracy %.3f -> %.3f", masked, before.Accuracy, after.Accuracy)

	if _, err := LeastImportantHeads(scores, 13); !errors.Is(err, ErrOptions) || !strings.Contains(err.Error(), "at most 12 can go") {
		t.Errorf("removing 13 of 16 heads in 4 layers: %v", err)
	}
	twelve, err := LeastImportantHeads(scores, 12)
	if err != nil || len(twelve) != 12 {
		t.Fatalf("12 heads: %v, %v", twelve, err)
	}
	random := RandomHeadOrder(scores, 1)
	if len(random) != 12 || slices.Equal(random, twelve) {
		t.Errorf("random order %v: want 12 heads, not the importance order", random)
	}
	perLayer := map[string]int{}
	for _, r := range random {
		perLayer[r.Layer]++
	}
	for l, n := range perLayer {
		if n != 3 {
			t.Errorf("random order: %s: %d heads of 4, want 3 (one stays)", l, n)
		}
	}
	perLayer = map[string]int{}
	for _, r := range twelve {
		perLayer[r.Layer]++
	}
	for l, n := range perLayer {
		if n != 3 {
			t.Errorf("%s: %d heads of 4 masked, want 3 (one stays)", l, n)
		}
	}
	if err := MaskHeads(s.Context(), all4(2)); !errors.Is(err, ErrOptions) || !strings.Contains(err.Error(), "/block2/attn") {
		t.Errorf("masking every head of block 2: %v", err)
	}
}

// all4 are the 4 heads of a vit-tiny block.
func all4(block int) []HeadRef {
	var all []HeadRef
	for h := range 4 {
		all = append(all, HeadRef{fmt.Sprintf("/block%d/attn/%s", block, models.HeadGates), h})
	}
	return all
}

// logitsOf runs program p with values on x.
func logitsOf(t *testing.T, s *training.Session, p *program.Program, values map[string][]float32, x *tensors.Tensor) []float32 {
	t.Helper()
	ctx, err := p.NewContext(values)
	if err != nil {
		t.Fatal(err)
	}
	out, err := p.Run(s.Backend(), ctx, x)
	if err != nil {
		t.Fatal(err)
	}
	return tensors.MustCopyFlatData[float32](out)
}
