// Package lottery runs Lottery Ticket experiments: iterative magnitude pruning with weight rewinding
// (Frankle & Carbin 2019, "The Lottery Ticket Hypothesis"; rewinding to iteration k: Frankle et al.
// 2020, "Linear Mode Connectivity and the Lottery Ticket Hypothesis"; learning-rate rewinding: Renda
// et al. 2020, "Comparing Rewinding and Fine-tuning in Neural Network Pruning"), with their controls,
// replicates and resumable, reproducible run directories in the manner of OpenLTH.
//
// A level trains the network, prunes a fraction of each layer's surviving weights by magnitude
// (Config.PruneRate; the output layer at Config.OutputPruneRate), and rewinds the survivors. After L
// levels a layer keeps (1−p)^L of its weights. Controls at every level ≥ 1:
//
//   - [Reinit]: the ticket's mask with fresh random weights (seed + 1,000,003);
//   - [RandomMask]: a random mask with the ticket's per-layer sparsities and the rewind weights.
//
// Each level records the weights remaining (P_m), test accuracy at the end and at the early-stopping
// iteration (minimum validation loss, evaluated every Config.EvalEvery iterations), the mask's Jaccard
// similarity with the previous level's; the summary adds mean ± std over replicates and the masks'
// pairwise Jaccard similarity across replicates.
//
// # Run directories
//
// A run directory is named by [Config.Hash] (every parameter that changes results, and nothing else);
// its layout and every file name are defined in layout.go. Every file is written atomically (temporary
// file, then rename), and a level's metrics.json is written last: a level is complete exactly when it
// exists. A run killed at any moment, kill -9 included, resumes at the first incomplete level and ends
// with results identical to an uninterrupted run (training is deterministic for a seed on a backend,
// and results files hold no wall times; those go to timing.json).
//
// # Sweeps
//
// A [Sweep] lists independent experiments; `prunelab lottery -sweep FILE -index I` runs entry I, so
// Kubernetes Indexed Jobs, Slurm arrays or GNU parallel fan a sweep out (docs/SWEEPS.md).
//
// # Presets
//
// [Presets] holds the budgets: "smoke" (seconds, for tests), "quick" (the README's main job: under
// 10 minutes on 2 cores) and "paper" (the published LeNet-300-100 setup: 50,000 iterations per level,
// batch 60, Adam 1.2e-3, 5,000 validation images, 15 levels down to 3.6% of weights, 5 replicates).
//
// # Errors
//
// [ErrConfigMismatch] when a run directory was made with other parameters (naming the fields that
// differ); [ErrCorrupt] for a level whose files exist but cannot be read back (nothing is overwritten:
// move the level away to redo it); validation errors naming the field at fault.
package lottery
