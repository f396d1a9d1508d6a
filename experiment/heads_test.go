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

func TestHeadSparsities(t *testing.T) {
	// One block of 2 heads of 2 features (width 4): q, k, v are [4, 4] (head h: columns 2h, 2h+1),
	// out is [4, 4] (head h: rows 2h, 2h+1). Head 0 gets 3 zeros in q, 1 in v and a whole out row.
	values := map[string][]float32{}
	for _, l := range []string{"q", "k", "v", "out"} {
		w := make([]float32, 16)
		for i := range w {
			w[i] = 1
		}
		values["/block0/attn/"+l+"/dense/weights"] = w
	}
	q, v, out := values["/block0/attn/q/dense/weights"], values["/block0/attn/v/dense/weights"], values["/block0/attn/out/dense/weights"]
	q[0], q[1], q[4*3+1] = 0, 0, 0 // rows 0 and 3, head 0's columns
	q[2] = 0                       // head 1's column 2
	v[4*2+0] = 0
	clear(out[4 : 2*4]) // row 1: head 0
	values["/block0/attn/"+models.HeadGates] = []float32{1, 0}
	got, err := HeadSparsities(values, 1, 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	want := []HeadSparsity{
		{Block: 0, Head: 0, Weights: 32, Zeros: 3 + 1 + 4, Sparsity: 8.0 / 32},
		{Block: 0, Head: 1, Weights: 32, Zeros: 1, Sparsity: 1.0 / 32, Masked: true},
	}
	if !slices.Equal(got, want) {
		t.Errorf("HeadSparsities = %+v, want %+v", got, want)
	}
	var table strings.Builder
	writeHeadSparsities(&table, got)
	if !strings.Contains(table.String(), "block 0:  25.0   3.1(gated off)") {
		t.Errorf("table:\n%s", table.String())
	}
	delete(values, "/block0/attn/k/dense/weights")
	if _, err := HeadSparsities(values, 1, 2, 2); err == nil || !strings.Contains(err.Error(), "/block0/attn/k/dense/weights") {
		t.Errorf("missing k projection: error %v", err)
	}
}

// TestOneShotViTHeadSparsity: one-shot pruning of vit-tiny reports each head's sparsity; at 2:4 every
// head loses exactly half its weights (its q, k, v columns are outputs, its 16 output-projection rows
// hold whole groups of 4 inputs).
func TestOneShotViTHeadSparsity(t *testing.T) {
	dense := DenseOptions{Model: "vit-tiny", Dense: "8it", Batch: 30, TrainLimit: 300, TestLimit: 60, Seed: 1,
		Out: t.TempDir()}
	run, err := OneShot(OneShotOptions{Dense: dense, Method: "sparsegpt", Pattern: "2:4", Calibration: 16,
		Skip: []string{"/embed/**", "/head/**"}})
	if err != nil {
		if errors.Is(err, ErrOptions) {
			t.Fatal(err)
		}
		t.Skipf("vit-tiny on MNIST: %v", err)
	}
	heads := run.Result.Heads
	if len(heads) != 16 {
		t.Fatalf("%d head sparsities, want vit-tiny's 16", len(heads))
	}
	for _, h := range heads {
		if h.Sparsity != 0.5 || h.Weights != 4*64*16 {
			t.Errorf("block %d head %d: sparsity %v of %d weights, want exactly 0.5 of %d", h.Block, h.Head, h.Sparsity,
				h.Weights, 4*64*16)
		}
	}
	var summary strings.Builder
	run.WriteSummary(&summary)
	if !strings.Contains(summary.String(), "block 3:  50.0  50.0  50.0  50.0") {
		t.Errorf("summary lacks the head sparsity table:\n%s", summary.String())
	}
}
