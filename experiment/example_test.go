package experiment_test

import (
	"fmt"
	"os"

	"github.com/janpfeifer/must"

	"github.com/prunelab/prunelab/experiment"
	"github.com/prunelab/prunelab/pruning"
)

// A notebook's first cells: the data at the notebook's budget, a session with masks, one-shot
// global magnitude pruning, fine-tuning, and the check that the pruned weights stayed zero.
func Example_quickstart() {
	budget := experiment.Smoke // in a notebook: experiment.BudgetFromEnv()
	data := must.M1(budget.MNIST())
	s := must.M1(experiment.NewMaskedSession("lenet-300-100", 1))
	must.M(s.SetTrainData(data.Train))
	must.M1(s.Train(budget.Length("3ep", "150it")))
	res := must.M1(pruning.PruneOnce(s.Context(), pruning.Config{Allocation: pruning.Global{}}, pruning.Sparsity(0.8)))
	must.M1(s.Train(budget.Length("1ep", "100it")))
	pruned, nonZero := must.M2(pruning.PrunedNonZero(s.Context()))
	acc := must.M1(s.Evaluate(data.Test))
	fmt.Printf("pruned %.0f%% of the weights; %d of them non-zero after fine-tuning; better than chance: %v\n",
		100*res.Sparsity, nonZero, pruned > 0 && acc.Accuracy > 0.5)
	// Output: pruned 80% of the weights; 0 of them non-zero after fine-tuning; better than chance: true
}

// Prune trains (or restores) the dense model, prunes it and fine-tunes it, and writes a run
// directory; the same options find the finished run afterwards.
func ExamplePrune() {
	out := must.M1(os.MkdirTemp("", "prunelab-example"))
	defer os.RemoveAll(out)
	o := experiment.PruneOptions{
		Dense: experiment.DenseOptions{Dense: "30it", TrainLimit: 1200, Validation: 200, TestLimit: 500, Seed: 1,
			Out: out},
		Prune:    experiment.PruneSettings{Structure: "2:4", Skip: []string{"/fc2/**"}},
		Schedule: experiment.ScheduleSettings{Schedule: "oneshot", Sparsity: 0.5, Finetune: "20it"},
	}
	run := must.M1(experiment.Prune(o))
	again := must.M1(experiment.Prune(o))
	fmt.Printf("masked sparsity %.2f, %d pruned weights non-zero; found again: %v\n", run.Result.MaskedSparsity,
		run.Result.PrunedNonZero, again.Reused)
	// Output: masked sparsity 0.50, 0 pruned weights non-zero; found again: true
}

// Sensitivity prunes each layer alone along a ladder, then the whole model with the per-layer
// amounts that reach the target.
func ExampleSensitivity() {
	out := must.M1(os.MkdirTemp("", "prunelab-example"))
	defer os.RemoveAll(out)
	run := must.M1(experiment.Sensitivity(experiment.SensitivityOptions{
		Dense: experiment.DenseOptions{Dense: "30it", TrainLimit: 1200, Validation: 300, TestLimit: 300, Seed: 1,
			Out: out},
		Ladder: []float64{0.5, 0.9}, Target: 0.7,
	}))
	fmt.Printf("%d layers x %d sparsities; overall sparsity %.2f\n", len(run.Table.Layers), len(run.Table.Sparsities),
		run.Result.MaskedSparsity)
	// Output: 3 layers x 2 sparsities; overall sparsity 0.70
}

// Export trains, prunes in rounds, quantizes to INT8 and writes a compressed model file, which
// Inspect reads back, verifies and evaluates.
func ExampleExport() {
	out := must.M1(os.MkdirTemp("", "prunelab-example"))
	defer os.RemoveAll(out)
	rep, _ := must.M2(experiment.Export(experiment.ExportOptions{
		Pipeline: experiment.PipelineOptions{Train: "30it", TrainLimit: 1200, TestLimit: 500, Seed: 1, Prune: 0.9,
			Rounds: 2, FineTune: "10it", Out: out},
		Int8: true, Calib: 128,
	}))
	in := must.M1(experiment.Inspect(rep.File, experiment.InspectOptions{TestLimit: 500}))
	fmt.Printf("sparsity %.2f; file %.0fx smaller than float32; reloaded accuracy as measured when written: %v\n",
		1-float64(in.NonZero)/float64(in.Params), float64(4*in.Params)/float64(rep.FileBytes),
		in.Accuracy == rep.ReloadedAccuracy)
}

// Compact prunes coupled channel groups and removes them: a smaller model computing the same.
func ExampleCompact() {
	out := must.M1(os.MkdirTemp("", "prunelab-example"))
	defer os.RemoveAll(out)
	rep, _ := must.M2(experiment.Compact(experiment.CompactOptions{
		Pipeline: experiment.PipelineOptions{Train: "30it", TrainLimit: 1200, TestLimit: 500, Seed: 1, Prune: 0.5, Out: out},
	}))
	fmt.Printf("%.1fx fewer multiply-accumulates; same accuracy: %v\n", rep.Compaction.Speedup,
		rep.CompactedAccuracy == rep.PrunedAccuracy)
}

// Train trains a registry model and writes its run directory, which the pruning flows start from
// (DenseOptions.From, or the same settings).
func ExampleTrain() {
	out := must.M1(os.MkdirTemp("", "prunelab-example"))
	defer os.RemoveAll(out)
	run := must.M1(experiment.Train(experiment.TrainOptions{Steps: "40it", TrainLimit: 1200, Validation: 200, Seed: 1,
		Out: out}))
	fmt.Printf("%s: %d steps, better than chance: %v, checkpoint saved: %v\n", run.Config.Model, run.Result.Steps,
		run.Result.Final["test"].Accuracy > 0.5, run.Checkpoint)
	// Output: lenet-300-100: 40 steps, better than chance: true, checkpoint saved: true
}

// OneShot prunes a trained model's linear layers from calibration images, without fine-tuning.
func ExampleOneShot() {
	out := must.M1(os.MkdirTemp("", "prunelab-example"))
	defer os.RemoveAll(out)
	run := must.M1(experiment.OneShot(experiment.OneShotOptions{
		Dense:  experiment.DenseOptions{Dense: "40it", TrainLimit: 1200, TestLimit: 500, Seed: 1, Out: out},
		Method: "sparsegpt", Pattern: "2:4", Calibration: 64,
	}))
	fmt.Printf("%d layers pruned to %s by %s\n", len(run.Result.Layers), run.Result.Pattern, run.Result.Method)
	// Output: 3 layers pruned to 2:4 by sparsegpt
}

// Quantize prunes (here 90% in one round, no fine-tuning) and quantizes to INT8, calibrated.
func ExampleQuantize() {
	out := must.M1(os.MkdirTemp("", "prunelab-example"))
	defer os.RemoveAll(out)
	rep, _ := must.M2(experiment.Quantize(experiment.QuantizeOptions{
		Pipeline: experiment.PipelineOptions{Train: "40it", TrainLimit: 1200, TestLimit: 500, Seed: 1, Prune: 0.9, Out: out},
		Calib:    128,
	}))
	fmt.Printf("%d layers quantized, sparsity %.1f\n", len(rep.Layers), rep.Sparsity)
	// Output: 3 layers quantized, sparsity 0.9
}

// Distill compares distillation with plain fine-tuning of a pruned student, over seeds.
func ExampleDistill() {
	out := must.M1(os.MkdirTemp("", "prunelab-example"))
	defer os.RemoveAll(out)
	res, _ := must.M2(experiment.Distill(experiment.DistillOptions{Train: "40it", FineTune: "10it", TrainLimit: 1200,
		TestLimit: 500, Seeds: []int64{1, 2}, Out: out}))
	fmt.Printf("%d seeds compared\n", len(res.Seeds))
	// Output: 2 seeds compared
}
