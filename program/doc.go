// Package program turns a GoMLX model function into a Program: a plain, serializable list of the
// operations its inference graph performs, with the model's variables referenced by path. A Program
// can be replayed as a GoMLX model function ([Program.Build]) on any backend, at any batch size, with
// the variables of any context whose shapes match. It is the common ground of Prunelab's
// compaction (package compact rewrites a Program and its variables to smaller shapes), sparse
// inference (package sparse executes a Program in Go with sparse kernels) and export (package export
// stores a Program beside its compressed variables).
//
// # Tracing
//
// [Trace] builds the model's inference graph twice, for two batch sizes, and reads every node
// reachable from the output: its type, operands, shape and the arguments it was built with (axes,
// slice bounds, convolution configuration, constants). GoMLX v0.26.0 keeps those arguments in
// unexported fields; they are read with package reflect (no unsafe), and a layout that does not match
// what this package expects is reported as [ErrGoMLXChanged] rather than guessed. A dimension or slice
// bound that differs between the two traces scales with the batch: it is stored as a negative number
// −k meaning k×batch ([Dim]), so the replay works at any batch size.
//
// Parameters of the graph are the model input (op "Input") and context variables (op "Variable",
// matched to the variable by its parameter name). Operations outside the supported set ([Supported])
// are an error wrapping [ErrUnsupportedOp] that names the operation and the variable or layer nearest
// to it, so a model using them fails clearly instead of being replayed wrongly.
//
// # Running for inference
//
// [Fold] prepares a Program to run fast: [Simplify] rewrites it as an inference compiler would
// (batch-norm scales into the weights before them, constant additions merged, ReLU's zeros left
// unbroadcast, dense weights transposed into the layout SimpleGo multiplies in), then every op that
// does not depend on the input is computed once and read as a variable. The folded Program computes
// the same function up to float rounding; it can be larger, so save and compact the unfolded one.
// [Program.Prune] drops the ops the output does not need.
//
// # Hyperparameters
//
// None: a Program is data. [Trace] takes the example input shape; [Program.Build] takes the batch from
// its input.
//
// # Errors
//
// [Trace], [Decode] and [Program.Validate] return errors wrapping [ErrUnsupportedOp],
// [ErrGoMLXChanged] or [ErrInvalid]. [Program.Build] is graph-building code and panics, as GoMLX layers
// do, with a message naming the operation and the variable at fault (e.g. a variable missing from the
// context or of another shape).
package program
