// Package experiment holds Prunelab's experiment flows: the workflow of a pruning study as plain
// functions over option structs (with useful zero values) that return plain results carrying their
// own report data. The prunelab command line parses flags and calls these; notebooks call them too.
//
// # The workflow
//
//   - Data: [LoadData] loads a data set and its train/validation/test splits in one call;
//     [Budget] sizes a notebook's work (PRUNELAB_BUDGET=smoke for CI) and names its run
//     directories ([Budget.RunDir]), [Budget.MNIST] is the Lottery Ticket split.
//   - Train: [Train] trains a registry model and writes a run directory; [OpenDense] restores
//     a training run (or trains it first) for a pruning flow; [NewMaskedSession] is a session
//     whose model carries pruning masks, for hand-written loops.
//   - Prune: [Prune] prunes one-shot, iteratively or gradually with any criterion, structure
//     and allocation ([PruneSettings], [ScheduleSettings]), fine-tunes with the pruned weights
//     held at zero, and reports; [Sensitivity] analyzes each layer alone and prunes with the
//     per-layer amounts it derives; [OneShot] prunes a trained model's linear layers from a
//     little calibration data without retraining (magnitude per output or layer-wise, Wanda,
//     SparseGPT; package oneshot).
//   - Transformers: [Prune] prunes attention heads and whole blocks with any schedule and
//     fine-tuning (PruneSettings.Structure "heads" and "blocks": the models' head and block gates
//     are masked, scored by Taylor importance |gate·∂L/∂gate|, which is Michel et al.'s at gate 1;
//     one head per layer and one block stay); [MaskedHeads] and [MaskedBlocks] read what was pruned
//     and [TransformerPruning] reports it with the MACs saved. [HeadImportance] scores heads once
//     (Michel et al. 2019, normalized per layer), [MaskHeads] masks them through their gates and
//     [RemoveHeads] removes them for real (with the models' BlockHeads); blocks go by
//     oneshot.BlockInfluence (ShortGPT) too, and the models' WithoutBlocks removes them.
//   - Language models: [LMTrain] trains a byte-level GPT (gpt-tiny, package lm) on the Go source
//     tree or WikiText-2 and stores it as model.plx ([ReadLanguageModel]); [LMOneShot] prunes it
//     in one shot with magnitude (per output and layer-wise), Wanda and SparseGPT at several
//     sparsities and N:M patterns over calibration seeds, and reports test perplexity (mean ± std)
//     beside the unigram baseline; [LMPrune] prunes its attention heads or whole blocks through
//     their gates (Taylor or random, one shot or polynomial), fine-tunes it, removes them
//     physically and stores the smaller model.
//   - Compress: [Compact] removes pruned channels for real and times the result; [Quantize]
//     quantizes to INT8; [Export] writes the compressed model file; [Distill] compares
//     distillation with fine-tuning; each starts from a [Pipeline] (train, prune in rounds,
//     fine-tune).
//   - Bring your own model: DenseOptions.ONNX starts [Prune], [Sensitivity] and [OneShot] from an
//     ONNX file (package onnxmodel; the result is written back as model.onnx), and
//     [CompactONNX] removes an ONNX model's coupled channels and writes the smaller ONNX file.
//   - Read back: [Inspect] reads a model file, verifies it and evaluates it; [ReadModel],
//     [ProgramAccuracy], [TraceSession] and [TimeProgram] are the pieces.
//
// Lottery Ticket experiments have their own package, lottery, with the same habits.
//
// # Run directories
//
// Each flow writes a directory under its Out option named FLOW-MODEL-HASH, the hash covering every
// setting that changes the numbers ([Hash]; file names in the constants below [ConfigFile]). Files
// are written atomically and the result file last, so a finished run is found and read back
// ([PruneRun.Reused]) instead of run again, and a killed one leaves no half-written result.
//
// # Errors
//
// Options that cannot run (an unknown name, a value out of range, a layer pattern that matches no
// layer) return errors wrapping [ErrOptions] before any data is loaded or model trained; their
// messages name the setting by its command-line flag (-sparsity, -skip). Errors of a run (a
// missing data set, a corrupt checkpoint or model file) name the file at fault.
package experiment
