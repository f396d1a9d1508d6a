// Package oneshot prunes one linear layer after training, in one shot, from calibration
// statistics: no gradients, no retraining. It is plain Go on float32 weights and float64
// statistics (linear algebra by gonum); only [PruneProgram], which runs a traced model to collect
// them, uses GoMLX.
//
// # Layout
//
// A [Layer] computes y = x·W for x of shape [batch, In]; W is stored row-major as [In][Out]
// float32, exactly as GoMLX stores dense kernels: W[i*Out+j] connects input i to output j. The
// papers write W as out×in, so what they call a row of W (the weights of one output) is a column
// here, and their columns (the weights of one input) are our rows. Masks are []bool in the same
// layout, true for a weight that is kept (as pruning.Mask.Keep).
//
// # Methods
//
//   - [Magnitude] prunes, for every output, the weights of smallest |W_ij|
//     (Han et al. 2015, "Learning both Weights and Connections for Efficient Neural Networks").
//     [MagnitudeLayer] ranks the whole layer's weights together instead, the magnitude baseline of
//     the Wanda and SparseGPT papers' tables.
//   - [Wanda] prunes, for every output, the weights of smallest |W_ij|·‖X_i‖₂, where ‖X_i‖₂ is
//     the norm of input i over the calibration rows (Sun, Liu, Bair, Kolter 2023, "A Simple and
//     Effective Pruning Approach for Large Language Models", arXiv 2306.11695).
//   - [SparseGPT] selects weights by the OBS saliency w²/[H⁻¹]_ii and updates the weights that
//     remain to compensate, input by input, with the Hessian H = 2XᵀX/N of the layer-wise
//     reconstruction loss (Frantar & Alistarh 2023, "SparseGPT: Massive Language Models Can Be
//     Accurately Pruned in One-Shot", ICML 2023, arXiv 2301.00774). It follows the official
//     fasterprune code; see [SparseGPT] for the few places where it does not.
//
// # Whole models
//
// [PruneProgram] prunes every linear layer of a traced GoMLX model (package program) in order, layer
// by layer as both papers do: each layer's statistics come from the calibration examples run through
// the layers before it, already pruned; layers that read the same inputs (attention's q, k and v)
// share them.
//
// # Whole blocks
//
// [BlockInfluence] ranks the blocks of a residual network by how little they turn their input
// (ShortGPT: Men et al. 2024, "ShortGPT: Layers in Large Language Models are More Redundant Than
// You Expect"), and [LeastInfluential] picks those to remove; models.ViTConfig.WithoutBlocks and
// models.GPTConfig.WithoutBlocks build the model without them, their parameters gone.
//
// Calibration inputs are accumulated by [Stats] (Σ xᵀx and the number of rows N), which can be
// filled batch by batch and merged; [Stats.OutlierRatio] says how far the largest input feature
// stands out, which is where Wanda and magnitude part ways. [ReconstructionError] measures ‖XW − XŴ‖²_F, the quantity
// all three methods try to keep small, from the same statistics.
//
// # Patterns
//
// A [Pattern] is either unstructured ([Unstructured]: a fraction of the weights, in [0, 1)) or
// N:M semi-structured ([NM]: of every M consecutive inputs of each output, N are kept, as in
// pruning.NM; 2:4 and 4:8 prune half). The number of weights an unstructured pattern prunes
// per output is round(s·In), rounded half to even as in package pruning.
//
// # Hyperparameters
//
//   - [SparseGPTOptions].BlockSize: inputs processed per block with lazy batched updates
//     (default [DefaultBlockSize], 128). It changes the result only for unstructured patterns,
//     whose mask is chosen per block.
//   - [SparseGPTOptions].PercDamp: dampening λ = PercDamp·mean(diag H) added to the diagonal of
//     H (default [DefaultPercDamp], 0.01; negative: none).
//
// # Errors
//
// Functions return errors wrapping one of the sentinels and naming the layer and the reason:
// [ErrShape] (weights, statistics and inputs of inconsistent sizes), [ErrInvalidPattern]
// (sparsity outside [0, 1), bad N:M, In not a multiple of M), [ErrInvalidOptions],
// [ErrNoCalibration] (statistics with no rows), [ErrNotFinite] (NaN or infinite weights or
// calibration inputs) and [ErrNotPositiveDefinite] (a Hessian that Cholesky rejects even after
// dampening). Nothing is modified in place: results are new slices.
package oneshot
