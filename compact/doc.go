// Package compact physically removes pruned structure: from a model whose pruned neurons, filters or
// channels have all-zero weights, it builds a genuinely smaller model (smaller variable shapes, fewer
// multiply-accumulates) that computes the same function, and finds which dimensions are coupled from
// the model's GoMLX computation graph rather than from per-model tables.
//
// # Dependency analysis
//
// The model is a [program.Program] (a traced GoMLX graph). Every output unit of a multiplication by
// a weight (Dot, DotGeneral, ConvGeneral with a constant operand: dense layers, convolutions, the
// patches × kernel convolutions of package nn) starts a channel. Channels then flow along the
// graph: through elementwise operations and activations (an Add of a bias couples the bias entry,
// a residual Add couples the channels of both branches), batch normalization (its scale, offset,
// mean and variance entries), transposes, slices and concatenations (ResNet's option-A shortcut pads
// one stage's channels into the next), reshapes that merge or split axes (a flatten couples a
// convolution's channel with the rows of the following dense layer; a kernel reshape couples a
// convolution's input channels with the rows of its matrix), and contractions (the input channels of
// a consuming layer are the channel itself). A channel axis split into groups, as attention splits
// its width into heads × head features, makes each group one channel carried by the outer axis:
// an attention head (its q, k and v columns, its gate, its output-projection rows) is removed
// whole, in the models' own graphs and in imported ones alike. Coupled indices are merged with union-find, so a channel
// is the set of every variable slice that must go together ([Channels]); this is the idea of
// Torch-Pruning's DepGraph (Fang et al., "DepGraph: Towards Any Structural Pruning", CVPR 2023),
// exact here because the graph is the model. A channel cannot be removed ("frozen") when it reaches
// the model's input or output, when a reduction, window, partial slice, reversal or regrouping
// reshape mixes it, or when a data-dependent value is broadcast over it.
//
// # Compaction
//
// [Compact] removes every unfrozen channel whose producing weight slices are all zero, and with it
// every coupled slice: the producing columns or filters, their biases and normalization entries, the
// matching rows or input channels of every consumer. A removed unit still had an output: a constant
// (ReLU of its bias, its batch-norm offset), which the consumers multiplied by their weights. That
// contribution is computed once, exactly, by running each consumer on the removed inputs alone, and
// added back as a constant ("compensation", stored under [CompensationScope], compressed to one
// value per channel for dense layers and valid convolutions, and to the few distinct border rows and
// columns for padded convolutions). So the compacted model matches the masked one up to float
// rounding; Compact verifies this on a random batch. The result is a smaller Program with its
// values, which runs with program.Program.Build, saves with package export, and reloads. To run it
// fast, fold it (program.Fold: the compensation terms are then expanded once and merged with the
// biases and batch-norm offsets).
//
// [GroupMasks] prunes coupled channels together (lowest L2 norm over every slice of the channel,
// per family of coupled layers), so that residual streams can be removed too.
//
// # Hyperparameters
//
//   - Options.Tolerance: verification tolerance relative to 1 + max |output| (default 1e-4).
//   - Options.SkipVerify (default false), Options.Seed (verification batch).
//   - GroupMasks' sparsity: fraction of each family's channels to prune.
//
// # Errors
//
// [Compact] and [Channels] return errors wrapping [ErrUnsupported] (an operation whose channel
// semantics compaction does not know; program.ErrUnsupportedOp for one a Program cannot hold),
// [ErrEmptyLayer] (the pruned units include every unit of a layer) and [ErrMismatch] (verification
// failed: a bug, reported instead of a wrong model).
package compact
