package experiment

import (
	"bytes"
	"errors"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/train/losses"

	"github.com/prunelab/prunelab/datasets"
	"github.com/prunelab/prunelab/distill"
	"github.com/prunelab/prunelab/models"
	"github.com/prunelab/prunelab/program"
	"github.com/prunelab/prunelab/pruning"
	"github.com/prunelab/prunelab/training"
)

// tinyViT is a vit-tiny dense run small enough for tests: 12 steps of 30 images.
func tinyViT(out string) DenseOptions {
	return DenseOptions{Model: "vit-tiny", Dense: "12it", Batch: 30, TrainLimit: 600, TestLimit: 120, Seed: 1, Out: out}
}

// TestGateOptionsErrors: the structures "heads" and "blocks" refuse what cannot work, as
// ErrOptions naming the setting, before any data is loaded or model trained.
func TestGateOptionsErrors(t *testing.T) {
	out := t.TempDir()
	vit := tinyViT(out)
	heads := func(p PruneSettings, s ScheduleSettings) func() error {
		return func() error {
			p.Structure = StructureHeads
			_, err := Prune(PruneOptions{Dense: vit, Prune: p, Schedule: s})
			return err
		}
	}
	blocks := func(p PruneSettings, s ScheduleSettings) func() error {
		return func() error {
			p.Structure = StructureBlocks
			_, err := Prune(PruneOptions{Dense: vit, Prune: p, Schedule: s})
			return err
		}
	}
	half := ScheduleSettings{Schedule: "oneshot", Sparsity: 0.5}
	for _, tc := range []struct {
		name string
		run  func() error
		want string
	}{
		{"magnitude", heads(PruneSettings{Criterion: "magnitude"}, half), "-criterion magnitude ranks by magnitude"},
		{"l2norm", blocks(PruneSettings{Criterion: "l2norm"}, half), "-criterion l2norm ranks by magnitude"},
		{"movement", heads(PruneSettings{Criterion: "movement"}, half), "gates are not trained"},
		{"every head globally", heads(PruneSettings{}, ScheduleSettings{Schedule: "polynomial", Sparsity: 0.8}),
			"prunes 13 of 16 heads; at most 12 can go"},
		{"every head of a layer", heads(PruneSettings{Allocation: "layerwise"}, ScheduleSettings{Schedule: "oneshot",
			Sparsity: 0.9}), "prunes 4 of the 4 heads of /block0/attn layer by layer"},
		{"every block", blocks(PruneSettings{}, ScheduleSettings{Schedule: "iterative", Sparsity: 0.9}),
			"prunes 4 of 4 blocks; at least one must stay"},
		{"blocks layerwise", blocks(PruneSettings{Allocation: "layerwise"}, half), "blocks are pruned global"},
		{"blocks min-keep", blocks(PruneSettings{MinKeep: 1}, half), "-min-keep 1 would keep every block"},
		{"blocks normalized", blocks(PruneSettings{NormalizePerLayer: true}, half), "would score every block 1"},
		{"heads erk", heads(PruneSettings{Allocation: "erk"}, half), "heads are pruned global or layerwise"},
		{"include", heads(PruneSettings{Include: []string{"/block0/**"}}, half), "-include does not apply"},
		{"torch ties", heads(PruneSettings{Ties: "torch"}, half), "-ties torch"},
		{"skip", heads(PruneSettings{Skip: []string{"/block9/**"}}, half), `"/block9/**" matches no prunable layer`},
		{"not a transformer", func() error {
			_, err := Prune(PruneOptions{Dense: DenseOptions{Out: out, TrainLimit: 100},
				Prune: PruneSettings{Structure: StructureHeads}, Schedule: half})
			return err
		}, "the model has no head gates"},
		{"sensitivity", func() error {
			_, err := Sensitivity(SensitivityOptions{Dense: vit, Prune: PruneSettings{Structure: StructureBlocks}})
			return err
		}, `-structure blocks is pruned by "prunelab prune"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run()
			if !errors.Is(err, ErrOptions) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want ErrOptions containing %q", err, tc.want)
			}
		})
	}
	if m, _ := filepath.Glob(filepath.Join(out, "*")); len(m) > 0 {
		t.Errorf("bad options left run directories: %v", m)
	}
}

// TestPruneHeadsPolynomial prunes half of a briefly trained vit-tiny's 16 heads gradually
// (polynomial schedule, Taylor importance of the head gates) with fine-tuning between the mask
// updates, through a pruning.Driver on the session, as Prune runs it: the gates change at the update
// steps and only there, to the schedule's number of heads; pruned heads stay at gate 0 through the
// fine-tuning; every layer keeps a head. Then Prune runs the same flow and writes its run, whose
// pruned model, its heads removed physically (RemoveHeads), computes the masked model's logits.
func TestPruneHeadsPolynomial(t *testing.T) {
	out := t.TempDir()
	dense := tinyViT(out)
	d, err := OpenDense(dense)
	if err != nil {
		if errors.Is(err, ErrOptions) {
			t.Fatal(err)
		}
		t.Skipf("vit-tiny on MNIST: %v", err)
	}
	settings := PruneSettings{Structure: StructureHeads, Allocation: "global", GradientBatches: 2}
	targets, err := PrunableLayers(d.Model, settings.Selector())
	if err != nil {
		t.Fatal(err)
	}
	cfg, sel, err := settings.Config(targets, 1)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Criterion.Name() != "taylor" || cfg.Structure.Name() != StructureHeads || cfg.MinKeep != 1 || len(targets) != 4 {
		t.Fatalf("heads: criterion %s, structure %s, min-keep %d, %d layers; want taylor, heads, 1, 4",
			cfg.Criterion.Name(), cfg.Structure.Name(), cfg.MinKeep, len(targets))
	}
	if _, err := d.InstallMasks(sel, &cfg); err != nil {
		t.Fatal(err)
	}
	sess := d.Session
	sched := pruning.Polynomial{Final: 0.5, Begin: 0, End: 16, Frequency: 8, Power: 3}
	driver := pruning.NewDriver(sess.Context(), sched, cfg)
	if _, err := driver.AfterStep(0); err != nil {
		t.Fatal(err)
	}
	var masked [][]HeadRef // after each fine-tuning step
	begin := sess.Step()
	sess.OnStep(func(step int) error {
		if _, err := driver.AfterStep(step - begin); err != nil {
			return err
		}
		heads, err := MaskedHeads(sess.Context())
		masked = append(masked, heads)
		return err
	})
	if _, err := sess.Train(training.Length{Steps: 24}); err != nil {
		t.Fatal(err)
	}
	// round(16·0.5·(1−(1−t/16)³)): 0 before step 8, 7 from step 8, 8 from step 16.
	for i, heads := range masked {
		step, want := i+1, 0
		switch {
		case step >= 16:
			want = 8
		case step >= 8:
			want = 7
		}
		if len(heads) != want {
			t.Errorf("step %d: %d heads at gate 0, want %d", step, len(heads), want)
		}
		if i > 0 {
			for _, h := range masked[i-1] {
				if !slices.Contains(heads, h) {
					t.Errorf("step %d: head %v came back (gate no longer 0)", step, h)
				}
			}
		}
	}
	if len(driver.History()) != 3 {
		t.Errorf("%d mask updates, want 3 (steps 0, 8, 16)", len(driver.History()))
	}
	final := masked[len(masked)-1]
	checkOneHeadPerLayer(t, final)
	if _, nonZero, err := pruning.PrunedNonZero(sess.Context()); err != nil || nonZero != 0 {
		t.Errorf("pruned gates non-zero after fine-tuning: %d (%v)", nonZero, err)
	}

	// The flow: the same through Prune, its result and its compacted model.
	run, err := Prune(PruneOptions{Dense: dense, Prune: PruneSettings{Structure: StructureHeads, GradientBatches: 2},
		Schedule: ScheduleSettings{Schedule: "polynomial", Sparsity: 0.5, Finetune: "24it", End: "16it",
			Frequency: "8it"}})
	if err != nil {
		t.Fatal(err)
	}
	res := run.Result
	var steps, pruned []int
	for _, u := range res.Updates {
		steps, pruned = append(steps, u.Step), append(pruned, u.PrunedAfter)
	}
	if !slices.Equal(steps, []int{0, 8, 16}) || !slices.Equal(pruned, []int{0, 7, 8}) || res.Pruned != 8 ||
		res.PrunedNonZero != 0 || run.Config.Structure != StructureHeads || run.Config.Criterion != "taylor" {
		t.Errorf("Prune: updates at %v pruning %v heads, %d pruned (%d non-zero), structure %s, criterion %s; want "+
			"[0 8 16], [0 7 8], 8 (0), heads, taylor", steps, pruned, res.Pruned, res.PrunedNonZero,
			run.Config.Structure, run.Config.Criterion)
	}
	ctx := run.Dense.Session.Context()
	heads, err := MaskedHeads(ctx)
	if err != nil {
		t.Fatal(err)
	}
	checkOneHeadPerLayer(t, heads)
	tp := res.Transformer
	kept := 0
	if tp != nil {
		for _, k := range tp.HeadsKept {
			kept += k
		}
	}
	if tp == nil || len(heads) != 8 || kept != 8 || !(tp.Speedup > 1) {
		t.Fatalf("Prune: %d heads masked, transformer %+v; want 8 masked, 8 kept, fewer MACs", len(heads), tp)
	}
	var summary bytes.Buffer
	run.WriteSummary(&summary)
	if !strings.Contains(summary.String(), "heads kept per block") {
		t.Errorf("summary without the heads kept:\n%s", summary.String())
	}

	m := run.Dense.Model
	p, values, err := TraceSession(run.Dense.Session, m)
	if err != nil {
		t.Fatal(err)
	}
	small, keptPerBlock, err := RemoveHeads(values, heads, 4, 4, 16)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(keptPerBlock, tp.HeadsKept) {
		t.Errorf("RemoveHeads keeps %v heads per block, the result says %v", keptPerBlock, tp.HeadsKept)
	}
	vc := models.ViTTiny
	vc.BlockHeads = keptPerBlock
	sp, err := program.Trace(run.Dense.Session.Backend(), context.New(), vc.Build, shapes.Make(dtypes.Float32, 28, 28, 1))
	if err != nil {
		t.Fatal(err)
	}
	x, err := distill.Inputs(run.Dense.Data.Test, 32, run.Dense.Session.Config().Normalization)
	if err != nil {
		t.Fatal(err)
	}
	s := run.Dense.Session
	if d := maxAbsDiff(logitsOf(t, s, p, values, x), logitsOf(t, s, sp, small, x)); d > 1e-5 {
		t.Errorf("heads removed (%v per block) vs masked: logits differ by %g", keptPerBlock, d)
	}
	t.Logf("test accuracy %.3f dense -> %.3f with 8 of 16 heads; MACs %.2fx fewer once removed",
		res.Dense.Accuracy, res.Final["test"].Accuracy, tp.Speedup)
}

// TestTaylorHeadScoresAreMichelImportance: the scores "heads" prunes by with NormalizePerLayer
// (Taylor |gate·∂L/∂gate| of the head gates, normalized per layer) are HeadImportance's (Michel et
// al.) on the same batches.
func TestTaylorHeadScoresAreMichelImportance(t *testing.T) {
	data, err := LoadData(DataOptions{TrainLimit: 240, TestLimit: 60})
	if err != nil {
		t.Skipf("MNIST: %v", err)
	}
	m, err := models.ByName("vit-tiny")
	if err != nil {
		t.Fatal(err)
	}
	s, err := training.NewSession(training.Config{Model: m, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	settings := PruneSettings{Structure: StructureHeads, GradientBatches: 3, NormalizePerLayer: true}
	targets, err := PrunableLayers(m, settings.Selector())
	if err != nil {
		t.Fatal(err)
	}
	cfg, sel, err := settings.Config(targets, 1)
	if err != nil {
		t.Fatal(err)
	}
	s.SetModel(models.BuildFn(pruning.WrapModelFn(pruning.ModelFn(m.Build), modelSelector(m, sel))))
	if err := s.InitVariables(); err != nil {
		t.Fatal(err)
	}
	batches, err := datasets.NewBatches(data.Train, datasets.BatchConfig{BatchSize: 60, DropRemainder: true,
		Normalization: s.Config().Normalization})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Gradients = pruning.NewDatasetGradients(s.Backend(), s.Context(), pruning.AsTrainModelFn(pruning.ModelFn(m.Build)),
		losses.SparseCategoricalCrossEntropyLogits, batches)
	scores, err := pruning.ComputeScores(s.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Without the normalization: the same up to one factor per layer, |∂L/∂gate| averaged.
	raw := cfg
	raw.Criterion = pruning.TaylorCriterion{}
	batches.Reset()
	unnormalized, err := pruning.ComputeScores(s.Context(), raw)
	if err != nil {
		t.Fatal(err)
	}
	for layer, u := range unnormalized {
		norm := 0.0
		for _, x := range u {
			norm += x * x
		}
		for h := range u {
			if math.Abs(u[h]/math.Sqrt(norm)-scores[layer][h]) > 1e-6 {
				t.Errorf("%s: raw taylor scores %v do not normalize to %v", layer, u, scores[layer])
				break
			}
		}
	}
	michel, err := HeadImportance(s, m, data.Train, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(scores) != 4 {
		t.Fatalf("scores of %d layers, want 4", len(scores))
	}
	for layer, want := range michel {
		got := scores[layer]
		for h := range want {
			if len(got) != len(want) || math.Abs(got[h]-want[h]) > 1e-6 {
				t.Errorf("%s: taylor scores %v, HeadImportance %v", layer, got, want)
				break
			}
		}
	}
}

// checkOneHeadPerLayer fails unless every one of vit-tiny's 4 attention layers keeps a head.
func checkOneHeadPerLayer(t *testing.T, masked []HeadRef) {
	t.Helper()
	perLayer := map[string]int{}
	for _, h := range masked {
		perLayer[h.Layer]++
	}
	for l, n := range perLayer {
		if n >= 4 {
			t.Errorf("%s: %d of 4 heads pruned; one must stay", l, n)
		}
	}
}

// TestPruneBlocks prunes a quarter of a briefly trained vit-tiny's blocks in one shot by the
// Taylor importance of their gates and fine-tunes: one block's gate is 0 and stays 0, and the model
// built without that block (WithoutBlocks) computes the masked model's logits.
func TestPruneBlocks(t *testing.T) {
	run, err := Prune(PruneOptions{Dense: tinyViT(t.TempDir()), Prune: PruneSettings{Structure: StructureBlocks,
		GradientBatches: 2}, Schedule: ScheduleSettings{Schedule: "oneshot", Sparsity: 0.25, Finetune: "6it"}})
	if err != nil {
		if errors.Is(err, ErrOptions) {
			t.Fatal(err)
		}
		t.Skipf("vit-tiny on MNIST: %v", err)
	}
	s, m := run.Dense.Session, run.Dense.Model
	blocks, err := MaskedBlocks(s.Context())
	if err != nil {
		t.Fatal(err)
	}
	res := run.Result
	if len(blocks) != 1 || res.Pruned != 1 || res.PrunedNonZero != 0 || len(res.Updates) != 1 || res.AfterPruning == nil ||
		res.Transformer == nil || !slices.Equal(res.Transformer.BlocksRemoved, blocks) || run.Config.Criterion != "taylor" {
		t.Fatalf("blocks at gate 0 after fine-tuning %v, result %+v", blocks, res)
	}
	p, values, err := TraceSession(s, m)
	if err != nil {
		t.Fatal(err)
	}
	smaller, err := program.Trace(s.Backend(), s.Context(), models.ViTTiny.WithoutBlocks(blocks...),
		shapes.Make(dtypes.Float32, m.InputShape...))
	if err != nil {
		t.Fatal(err)
	}
	sv, err := smaller.Values(s.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := smaller.NumParams(), p.NumParams()-(33472+4+1); got != want {
		t.Errorf("without block %v: %d parameters, want %d", blocks, got, want)
	}
	x, err := distill.Inputs(run.Dense.Data.Test, 32, s.Config().Normalization)
	if err != nil {
		t.Fatal(err)
	}
	if d := maxAbsDiff(logitsOf(t, s, p, values, x), logitsOf(t, s, smaller, sv, x)); d > 1e-5 {
		t.Errorf("block %v removed vs masked: logits differ by %g", blocks, d)
	}
	if sp := res.Transformer.Speedup; !(sp > 1.2 && sp < 4.0/3) { // the blocks hold most but not all MACs
		t.Errorf("one of 4 blocks removed: MACs %.3fx fewer", res.Transformer.Speedup)
	}
	t.Logf("block %v pruned: test accuracy %.3f dense -> %.3f after pruning -> %.3f fine-tuned; MACs %.2fx fewer",
		blocks, res.Dense.Accuracy, res.AfterPruning.Accuracy, res.Final["test"].Accuracy, res.Transformer.Speedup)
}

// TestCheckpointWithoutGates: a vit-tiny checkpoint saved before the models had block gates (here:
// one whose gates were deleted before saving) restores, gets its gates at one on the first build,
// and computes what it computed before.
func TestCheckpointWithoutGates(t *testing.T) {
	data, err := LoadData(DataOptions{TrainLimit: 120, TestLimit: 60})
	if err != nil {
		t.Skipf("MNIST: %v", err)
	}
	m, err := models.ByName("vit-tiny")
	if err != nil {
		t.Fatal(err)
	}
	newSession := func() *training.Session {
		s, err := training.NewSession(training.Config{Model: m, Seed: 1, BatchSize: 30})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.SetTrainData(data.Train); err != nil {
			t.Fatal(err)
		}
		return s
	}
	old := newSession()
	if _, err := old.Train(training.Length{Steps: 2}); err != nil {
		t.Fatal(err)
	}
	before, err := old.Evaluate(data.Test)
	if err != nil {
		t.Fatal(err)
	}
	for b := range 4 {
		for _, path := range []string{"/block%d/" + models.BlockGate, "/block%d/attn/" + models.HeadGates} {
			scope, name := context.SplitScope(strings.Replace(path, "%d", string(rune('0'+b)), 1))
			if err := old.Context().DeleteVariable(scope, name); err != nil {
				t.Fatal(err)
			}
		}
	}
	dir := filepath.Join(t.TempDir(), "checkpoint")
	if err := old.Save(dir, 1); err != nil {
		t.Fatal(err)
	}
	restored := newSession()
	if err := restored.Load(dir); err != nil {
		t.Fatal(err)
	}
	after, err := restored.Evaluate(data.Test)
	if err != nil {
		t.Fatal(err)
	}
	if after != before {
		t.Errorf("restored without gates: test %+v, before saving %+v", after, before)
	}
	if v := restored.Context().GetVariableByScopeAndName("/block2", models.BlockGate); v == nil || v.Trainable {
		t.Errorf("restored model's /block2/%s: %v, want a non-trainable gate", models.BlockGate, v)
	} else if g, err := gateValues(v); err != nil || !slices.Equal(g, []float32{1}) {
		t.Errorf("restored model's block gate %v (%v), want [1]", g, err)
	}
	if _, err := restored.Train(training.Length{Steps: 1}); err != nil {
		t.Errorf("training the restored model: %v", err)
	}
}

// maxAbsDiff is the largest |a[i] − b[i]|.
func maxAbsDiff(a, b []float32) float64 {
	d := 0.0
	for i := range a {
		d = math.Max(d, math.Abs(float64(a[i]-b[i])))
	}
	return d
}
