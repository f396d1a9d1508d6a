// Package sparse runs pruned models in pure Go with kernels that skip zeros: the inference path for
// unstructured sparsity, which dense hardware (and GoMLX's dense matrix multiplication) cannot turn
// into speed.
//
// [CSR] stores a weight matrix by its non-zeros; [CSR.MatMul] multiplies a batch by it, skipping
// zero weights and zero inputs. [Compile] turns a [program.Program] (a traced model) and its
// variable values into a [Model] executed in Go, whose multiplications by weights use the CSR kernel
// or the dense Go loop ([DenseMatMul]), chosen per layer from the weight's density (KernelAuto:
// CSR at density <= Options.MaxDensity). [Auto] picks, per batch size, whichever of several runners
// (e.g. this Go model and GoMLX's dense execution of the same program) is faster, by timing them on
// the first batch of that size.
//
// # Hyperparameters
//
//   - Options.Kernel: KernelAuto (default), KernelDense or KernelCSR.
//   - Options.MaxDensity: density up to which KernelAuto uses CSR (default [DefaultMaxDensity], 0.3).
//   - Auto's Trials: timed runs per candidate when choosing (default 5).
//
// # Errors
//
// [Compile] returns an error wrapping [ErrUnsupported] for operations the Go executor lacks (native
// convolutions, windowed reductions, batch-norm operations of the XLA path): run those models with
// GoMLX. [NewCSR] and [Model.Run] return errors for mis-sized inputs.
package sparse
