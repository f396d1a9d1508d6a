package experiment_test

import (
	"errors"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/prunelab/prunelab/experiment"
)

// TestLMPrune prunes a briefly trained gpt-tiny's heads (one shot and on a polynomial schedule) and
// blocks with fine-tuning: the schedule's counts are reached, every block keeps a head, the
// compacted model (model.plx) scores what the masked one does, and a finished run is found again.
func TestLMPrune(t *testing.T) {
	skipWithoutGoSource(t)
	out := t.TempDir()
	dense := tinyLM(out)
	base := experiment.LMPruneOptions{Dense: dense, Finetune: 6, Batch: 8, GradientBatches: 2}

	t.Run("heads oneshot", func(t *testing.T) {
		run, err := experiment.LMPrune(base)
		if err != nil {
			t.Fatal(err)
		}
		r := run.Report
		t.Logf("dense %v, pruned %v, fine-tuned %v, compacted %v; heads %v, %.2fx fewer MACs", r.Dense, r.AfterPruning,
			r.Final, r.Compacted, r.HeadsKept, r.Speedup)
		if len(r.Updates) != 1 || r.Updates[0] != (experiment.LMPruneUpdate{Step: 0, Pruned: 4, Total: 8}) {
			t.Errorf("updates %+v, want 4 of 8 heads at step 0", r.Updates)
		}
		checkHeadsKept(t, r.HeadsKept, 4)
		if r.AfterPruning == nil || !(r.AfterPruning.Perplexity > r.Dense.Perplexity) {
			t.Errorf("after pruning %v, dense %v: want a worse score before fine-tuning", r.AfterPruning, r.Dense)
		}
		checkCompacted(t, run)
		// gpt-tiny: 8 heads of 16 features; 4 removed take q, k, v columns, output rows and gates.
		if want := r.DenseParams - 4*(3*(64*16+16)+16*64+1); r.CompactParams != want || !(r.Speedup > 1) {
			t.Errorf("%d -> %d parameters (want %d), speedup %v", r.DenseParams, r.CompactParams, want, r.Speedup)
		}
		again, err := experiment.LMPrune(base)
		if err != nil {
			t.Fatal(err)
		}
		if !again.Reused || again.Report.Final != r.Final {
			t.Errorf("second run reused %v, final %v; want the first result (%v)", again.Reused, again.Report.Final, r.Final)
		}
	})

	t.Run("heads polynomial", func(t *testing.T) {
		o := base
		o.Sparsity, o.Schedule, o.Finetune, o.End, o.Frequency = 0.75, "polynomial", 8, 4, 2
		run, err := experiment.LMPrune(o)
		if err != nil {
			t.Fatal(err)
		}
		r := run.Report
		var steps, counts []int
		for _, u := range r.Updates {
			steps, counts = append(steps, u.Step), append(counts, u.Pruned)
		}
		t.Logf("updates at %v: %v heads pruned; final %v", steps, counts, r.Final)
		if !slices.IsSorted(counts) || counts[len(counts)-1] != 6 || steps[len(steps)-1] > 4 || r.AfterPruning != nil {
			t.Errorf("updates %+v: want growing counts reaching 6 of 8 by step 4, and no one-shot score", r.Updates)
		}
		if len(r.Updates) < 2 {
			t.Errorf("updates %+v: want a gradual schedule (several updates)", r.Updates)
		}
		checkHeadsKept(t, r.HeadsKept, 2)
		checkCompacted(t, run)
	})

	t.Run("blocks", func(t *testing.T) {
		o := base
		o.Structure, o.Criterion = experiment.StructureBlocks, "random"
		run, err := experiment.LMPrune(o)
		if err != nil {
			t.Fatal(err)
		}
		r := run.Report
		if len(r.BlocksRemoved) != 1 || r.HeadsKept != nil || !(r.Speedup > 1) {
			t.Errorf("blocks removed %v, heads kept %v, speedup %v; want 1 of 2 blocks gone", r.BlocksRemoved, r.HeadsKept,
				r.Speedup)
		}
		checkCompacted(t, run)
	})

	t.Run("errors", func(t *testing.T) {
		for _, tc := range []struct {
			o    experiment.LMPruneOptions
			want string
		}{
			{experiment.LMPruneOptions{Sparsity: 0.9}, "every block keeps one, so at most 6"},
			{experiment.LMPruneOptions{Structure: experiment.StructureBlocks, Sparsity: 0.9}, "one must stay"},
			{experiment.LMPruneOptions{Sparsity: 1.5}, "want a fraction"},
			{experiment.LMPruneOptions{Structure: "neurons"}, `-structure "neurons"`},
			{experiment.LMPruneOptions{Criterion: "magnitude"}, `-criterion "magnitude"`},
			{experiment.LMPruneOptions{Schedule: "weekly"}, `-schedule "weekly"`},
			{experiment.LMPruneOptions{Schedule: "polynomial", Finetune: 10, End: 20}, "-end 20"},
		} {
			tc.o.Dense = experiment.LMTrainOptions{Out: out}
			_, err := experiment.LMPrune(tc.o)
			if !errors.Is(err, experiment.ErrOptions) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%+v: error %v, want ErrOptions mentioning %q", tc.o, err, tc.want)
			}
		}
	})
}

// checkHeadsKept checks that gpt-tiny's 2 blocks keep want heads together, at least one each.
func checkHeadsKept(t *testing.T, kept []int, want int) {
	t.Helper()
	sum := 0
	for _, k := range kept {
		sum += k
		if k < 1 {
			t.Errorf("heads kept per block %v: a block lost every head", kept)
		}
	}
	if len(kept) != 2 || sum != want {
		t.Errorf("heads kept per block %v, want %d in all over 2 blocks", kept, want)
	}
}

// checkCompacted checks that the compacted model scores the masked model's perplexity and that
// model.plx holds it.
func checkCompacted(t *testing.T, run *experiment.LMPruneResult) {
	t.Helper()
	r := run.Report
	if math.IsNaN(r.Final.Perplexity) || math.Abs(r.Compacted.BitsPerByte-r.Final.BitsPerByte) > 1e-5 {
		t.Errorf("masked %v, compacted %v: want the same score", r.Final, r.Compacted)
	}
	m, err := experiment.ReadLanguageModel(filepath.Join(run.Dir, experiment.ModelFile))
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Program.NumParams(); got != r.CompactParams {
		t.Errorf("model.plx holds %d parameters, the compacted model %d", got, r.CompactParams)
	}
}
