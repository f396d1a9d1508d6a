// Package export stores a pruned (and optionally INT8-quantized) model in a compact, documented file
// and restores a runnable model from it. The format is specified in docs/FORMAT.md.
//
// A file holds the model's [program.Program] (its traced operations, as JSON), free-form metadata and
// every variable. Each variable is stored densely or sparsely, whichever is smaller: a sparse tensor
// keeps only its non-zero values, with their positions as a bitmap or as gaps between consecutive
// non-zeros (LEB128 varints), again whichever is smaller. Values are float32, or int8 with one
// float32 scale per output channel for variables quantized with package quantize. Indices, scales and
// values are grouped in separate sections so that DEFLATE (RFC 1951, compress/flate), applied to the
// whole body, sees long runs of similar bytes. A SHA-256 of the file ends it.
//
// [Write] writes a file and returns [Stats]; [Read] checks the checksum and every size before
// allocating and returns a [Model] whose Program runs with its Values (program.Program.Build via
// Model.NewContext, or package sparse). [Sizes] compares the float32 model with the file's dense,
// sparse and sparse-INT8 forms, as in Deep Compression (Han et al., ICLR 2016), whose pruned and
// quantized LeNet-300-100 was 40 times smaller than the dense float32 one.
//
// # Hyperparameters
//
//   - Options.Quantized: INT8 tensors to store instead of float32 (default none).
//   - Options.NoCompression: skip DEFLATE (default: compress, best level).
//   - Options.Dense: store every tensor densely (default: sparse where smaller).
//   - ReadOptions.MaxFileBytes (default 1 GiB) and MaxElements (default 64M) bound what Read accepts.
//
// # Errors
//
// [Read] returns errors wrapping [ErrFormat] (not an export file, truncated, malformed section),
// [ErrChecksum] (SHA-256 mismatch: corrupted or tampered with) or [ErrTooLarge] (beyond the
// ReadOptions limits), or program.ErrInvalid / program.ErrUnsupportedOp for a bad program. It never
// panics on bad input (fuzzed by FuzzRead). [Write] returns errors for values that do not match the
// program.
package export
