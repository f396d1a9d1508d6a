// Package pruning prunes GoMLX models: masks on any model without changing its code, criteria,
// structures, budget allocations, schedules, a driver for training loops, sensitivity analysis
// and reports. It knows GoMLX only: models are GoMLX model functions, data comes as GoMLX
// datasets or caller functions, results are plain values (JSON-able) for other packages to plot.
//
// # Masks
//
// Every prunable variable gets a mask: a non-trainable variable of the same shape and dtype,
// holding exactly 0 (pruned) or 1 (kept), stored at "/pruning/masks" + the variable's path
// ([MaskScope]), so checkpoints carry masks. [WrapModelFn] (or [WrapTrainModelFn], or a call to
// [AttachMasksGraph] at the end of a model function) creates all-ones masks for the variables a
// [Selector] picks (by default the "weights" of layers.Dense and layers.Convolution, not biases
// or normalization parameters; include/skip lists take globs or "re:" regexps) and registers,
// with train.AddPerStepUpdateGraphFn, a step that sets w = w·mask after every optimizer update.
// Pruned weights therefore stay exactly zero under any optimizer, Adam's moments included
// (masking only the forward pass is not enough: Adam revives pruned weights). When masks change
// from Go ([SetMasks], [PruneOnce], a [Driver]) the weights are zeroed at once with SetValue, and
// since masks are variables no graph is recompiled. [PrunedNonZero] checks that every masked
// weight is zero. Masks are read with [GetMasks], set like
// torch's custom_from_mask with [SetMasks] / [SetMaskFromTensor], saved and loaded atomically with
// [SaveMasks] / [LoadMasks] (JSON, bit-packed, CRC-32C checked), compared with [CompareMasks]
// (Jaccard, overlap, Hamming per layer and total), validated (entries exactly 0 or 1), and removed
// with [RemoveMasks], which bakes the zeros into the weights.
//
// # Pruning
//
// One pruning ([PruneOnce], [ComputeMasks]) is criterion × structure × allocation × amount:
//
//   - [Criterion] scores weights (lower is pruned first): [MagnitudeCriterion], [RandomCriterion],
//     [TaylorCriterion], [SNIPCriterion], [MovementCriterion], [LnNormCriterion]; registered by
//     name ([Criteria], [CriterionByName], [RegisterCriterion]); [CriterionFunc] and
//     [NewCriterion] for your own. Gradient-based criteria read gradients from a
//     [GradientSource]; [NewDatasetGradients] builds one from a model, loss and dataset, and
//     differentiates with respect to any variable the model uses, trainable or not. So a
//     model's non-trainable gates (a transformer's head gates, all ones) can be masked like
//     weights (a Selector that includes them) and scored by [TaylorCriterion]: |gate·∂L/∂gate|
//     at gate 1 is Michel et al.'s head importance (2019), and a pruned gate stays 0.
//   - [Structure] groups weights pruned whole: [Unstructured], [OutputChannels] (neurons,
//     filters), [InputChannels], [NM] (2:4, 4:8 along the input dimension), [Blocks] (e.g. 4x1);
//     group scores aggregate element scores with a [Reduction] (sum by default; with
//     [LnNormCriterion] the group's Ln norm).
//   - [Allocation] spreads the budget: [LayerWise], [Global], [PerLayer] (a map of amounts),
//     [ERK] (Evci et al. 2020), plus Config.Skip and Config.MinKeep for all of them.
//   - [Amount] is either [Sparsity] (fraction of all the weights concerned that must be zero
//     afterwards) or [FractionOfRemaining] (fraction of the remaining weights to prune now, as in
//     iterative pruning), a value in [0, 1). Pruning is monotone (pruned weights stay pruned)
//     unless Config.Regrow.
//
// # Budgets, ties and order
//
// A budget counts weights, or groups when every group concerned has one size and is either
// wholly kept or wholly pruned (neurons and filters of a dense layer; blocks that tile the
// kernel): round(s·n) units for sparsity s of n units, rounded half to even as Python's round
// (which torch.nn.utils.prune uses): 0.25 of 10 weights is 2, of 14 is 4. Other structured
// pruning (ragged blocks, groups already partly pruned) gets as close as its group sizes allow.
// The units of lowest score are pruned first. When several have the score of the last unit the
// budget takes, [Config].Ties says which:
//
//   - [TiesByPosition] (default): position order. Variables are ordered by path with numbers
//     compared by value ([ComparePaths]: "/fc2/..." before "/fc10/..."), independently of the
//     order in which they were created or restored, and within a variable by row-major index
//     in its own layout (dense kernels [in, out], convolution kernels [k..., in, out]) or group
//     number (a neuron's or filter's output index); the first ones are pruned first. N:M keeps,
//     of equal scores in a group, the later ones.
//   - [TiesLikeTorch]: exactly the weights torch.nn.utils.prune on the CPU chooses. PyTorch
//     1.13's topk keeps (value, index) pairs and runs libstdc++'s std::partial_sort (when
//     k·64 ≤ n) or std::nth_element on them, which are deterministic but not stable: which of
//     equal values it takes depends on their positions in PyTorch's layout (nn.Linear's [out, in],
//     nn.Conv2d's [out, in, kh, kw], global_unstructured's concatenation). This option replays
//     those algorithms on the scores in that layout. l1_unstructured, global_unstructured with
//     L1Unstructured and ln_structured (n=1, 2, dim=0: output units) then give the same masks
//     as ours for the same weights and amount, ties included: pruning/testdata/torch_masks.json,
//     made by scripts/peers/torch_masks.py, holds PyTorch's masks and TestTorchParity compares.
//     Without ties both rules give the same masks.
//
// Unstructured pruning by magnitude (or the L1/L2 criteria, which rank single weights alike) of
// float32 variables never materializes scores: a radix selection on the bits of |w| finds the
// exact threshold in two passes over the weights in place, on all cores, with no sort and no
// copy (for 100M weights, several times faster than PyTorch's kthvalue on the same data:
// BenchmarkGlobalMagnitude100M, scripts/bench-global-magnitude.sh), and masks and weights are
// updated in place. Other criteria and structures score in float64 and sort the candidate
// groups.
//
// # Schedules and the driver
//
// A [Schedule] maps a step to a target sparsity and says which steps update masks: [OneShot],
// [Iterative] (k prune-and-fine-tune cycles, (1−p)^k remaining, as in the Lottery Ticket
// setup) and [Polynomial] (gradual pruning, Zhu & Gupta 2017). A [Driver] runs any schedule with
// any [Config] during training: call [Driver.AfterStep] after each optimizer step (or register
// [Driver.OnStep] with a train.Loop). Sketch:
//
//	masked := pruning.WrapModelFn(model, pruning.Selector{})
//	trainer := train.NewTrainer(backend, ctx, pruning.AsTrainModelFn(masked), loss, optimizers.Adam().Done(), nil, nil)
//	driver := pruning.NewDriver(ctx, pruning.Polynomial{Final: 0.9, Begin: 1000, End: 10000, Frequency: 500},
//		pruning.Config{Allocation: pruning.Global{}})
//	for step := 1; step <= steps; step++ {
//		trainer.TrainStep(...)
//		if _, err := driver.AfterStep(step); err != nil { ... }
//	}
//
// # Analysis
//
// [Sensitivity] prunes each layer alone along a ladder of sparsities and evaluates a caller
// function; its [SensitivityTable] derives per-layer amounts for a maximum drop or a target
// overall sparsity and exports CSV and JSON. [NewReport] counts parameters, non-zeros, sparsity,
// dense and effective FLOPs (multiply-accumulates per example, as ShrinkBench counts them),
// compression and theoretical speedup per layer and in total, warning when unstructured sparsity
// brings no speedup on dense hardware; [MeasureModel] derives the FLOP positions by building the
// model graph once.
//
// # Hyperparameters
//
//   - [ParamConvChannelsFirst] (context param, bool, default false): convolution kernels are
//     [out, in, k...] instead of GoMLX's default [k..., in, out].
//   - [ParamLayouts] (context param, map[string]Layout, default none): explicit layouts of
//     variables by path, for models that follow neither GoMLX's names nor its layouts (imported
//     ONNX models; [SetLayouts] adds to it). [Exactly] selects variables by exact path.
//   - [Selector]: Include (default: variables named "weights" of rank ≥ 2), Skip.
//   - [Config]: Criterion (default magnitude), Structure (default unstructured), Reduction
//     (default sum), Allocation (default layer-wise), Skip (none), MinKeep (0: none), Regrow
//     (false), Gradients (none), GradientBatches (1), Seed (0), Ties (by position).
//   - [Driver].AccumulateEvery (0: off): accumulate movement/Taylor statistics every so many steps.
//   - [Polynomial].Power (default 3); [ERK].Power (default 1).
//
// # Errors
//
// Functions that run outside the graph return errors wrapping the thing at fault and one of the
// sentinels: [ErrNoMask], [ErrInvalidMask] (wrong shape, entries other than 0 and 1),
// [ErrInvalidAmount] (amounts outside [0, 1), schedules whose end precedes their begin),
// [ErrUnknownCriterion] and [ErrUnknownLayer] (listing the known names), [ErrUnknownStructure],
// [ErrNoGradients], [ErrIncompatibleStructure] (N:M on a dimension that is not a multiple of M),
// [ErrUnreachable], [ErrNotFinite] (NaN or infinite weights or scores), [ErrUnsupportedDType];
// a failed pruning changes nothing. A [Driver] checks its schedule at its first step
// ([ValidateSchedule]). Graph-building functions ([AttachMasksGraph], the wrapped model
// functions) panic, as GoMLX graph code does.
package pruning
