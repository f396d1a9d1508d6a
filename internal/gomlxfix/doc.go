// Package gomlxfix is the one place where Prunelab replaces GoMLX behaviour that is correct but too
// slow (or missing) on the pure-Go backend ("go", SimpleGo). Each workaround names the upstream
// behaviour it replaces, so it can be dropped once GoMLX changes it.
//
// The package was written against, and is tested with, GoMLX [GoMLXVersion] (v0.26.0). When go.mod
// moves to another GoMLX version, a test fails on purpose: check every workaround below against the
// new release, drop the ones GoMLX fixed, then update [GoMLXVersion].
//
// # Workarounds
//
//   - "fast-dot-gradient" ([InstallFastDotGradient]): GoMLX v0.26.0 builds the reverse-mode
//     gradient of Dot and DotGeneral (dotVJP and dotGeneralVJP in pkg/core/graph) as a broadcast
//     multiply followed by ReduceSum. That materializes a [batch..., lhs cross..., rhs cross...,
//     contracting...] tensor — 60×784×300 floats for the first layer of LeNet-300-100 — which XLA
//     fuses away but SimpleGo computes literally, making training about 10x slower than PyTorch.
//     The replacement computes each operand's gradient as one DotGeneral (plus a transpose when
//     the operand's axes are not already in the order DotGeneral produces), for every axes
//     configuration. GoMLX v0.26.0 has no public accessor for a DotGeneral node's axes; this
//     package reads them with package reflect and panics with [ErrGoMLXChanged] if the node
//     layout is not the one it knows.
//
// The next four replace SimpleGo's own float32 kernels, not gradients. SimpleGo keeps its kernels in
// per-dtype registries (simplego.DTypeMap, exported with its Register method) held in unexported
// package variables, which this package reaches by go:linkname; it checks each registry's name and
// each kernel's type before replacing an entry, and reads the unexported fields of simplego.Buffer
// (flat, shape) and of the kernels' parameter structs at offsets checked with package reflect.
//
//   - "fast-dot-kernel" ([InstallFastDotKernel]): GoMLX v0.26.0's SimpleGo multiplies matrices with
//     scalar Go loops (about 1 GMAC/s per core), packs and transposes operands one element at a time
//     through a multi-axis index, and zeroes buffers element by element. The replacement computes the
//     products with an AVX2+FMA assembly kernel (tiles of 2x4 outputs in 8 vector registers, 18 GMAC/s
//     on one core of the development machine) where the CPU has AVX2 and FMA — a register-tiled Go
//     kernel elsewhere, or with the purego build tag —, packs operands with row copies through offset
//     tables, and zeroes with clear. It covers both of SimpleGo's DotGeneral paths (blocked for large
//     products, normalized for small ones); small products (up to 2^20 multiply-adds) are computed in
//     the calling goroutine instead of being handed to a worker (its DotGeneral executor is swapped
//     in SimpleGo's node-executor table). Results differ from SimpleGo's only by float32 summation
//     order.
//
//   - "fast-copies" ([InstallFastCopies]): SimpleGo copies a Slice and a Transpose element by element
//     through a multi-axis index; the replacements drop axes of size 1, merge axes that continue
//     each other in memory and copy runs along the innermost one. Convolutions on SimpleGo are built
//     from strided slices (package nn), and the gradients of DotGeneral often end in a transpose.
//
//   - "fast-reductions" ([InstallFastReductions]): SimpleGo reduces (ReduceSum, ReduceMax, ReduceMin)
//     one element at a time through a multi-axis output index; the replacement walks runs along the
//     innermost axis in the same order, so its results are bit-identical. Batch norm's statistics,
//     bias gradients and max pooling are reductions.
//
//   - "fast-binary-ops" ([InstallFastBinaryOps]): SimpleGo computes Add, Sub, Mul, Div, Max and Min
//     of operands of different shapes (implicit broadcasting of axes of dimension 1: bias adds,
//     batch-norm arithmetic) one element at a time through a multi-axis iterator per operand; the
//     replacement walks runs along the innermost moving axis with the same arithmetic (bit-identical).
//     These executors are not in a kernel registry: they are swapped in SimpleGo's node-executor
//     table.
//
//   - "fast-conv-kernel" ([InstallFastConv]): SimpleGo convolves one multiply-add at a time through
//     multi-axis indices. For channels-last 2-D convolutions without dilations or groups the
//     replacement copies each image once into a zero-padded buffer and, for each output row,
//     multiplies that buffer read with a stride, in one run per kernel row (the positions' windows
//     overlap in it), with the transposed kernel by the fast-dot-kernel product: an implicit GEMM
//     without a gather, batch elements shared among CPUs. Images holding infinities or NaNs have their patches gathered
//     instead (the strided reads go beyond windows against zero kernel entries, and 0·Inf is NaN).
//     Other convolutions keep SimpleGo's kernel. Package nn uses
//     GoMLX's convolution on SimpleGo in graphs that do not train (evaluation, inference, traced
//     programs), and patches × matmul where gradients are needed.
//
// One corrects a gradient:
//
//   - "first-extreme-gradient": GoMLX v0.26.0's gradient of ReduceMax and ReduceMin
//     (reduceMaxVJP, reduceMinVJP in pkg/core/graph/rev_autodiff.go) gives the whole incoming
//     gradient to every element equal to the result, so k tied elements get k times the gradient.
//     The replacement gives it to the first of them (row-major over the reduced axes), as XLA's
//     and PyTorch's max pooling do. Package nn's max pooling over windows that tile the image is a
//     ReduceMax over the window axes, so its forward pass is one reduction and the tie handling
//     exists only in gradient graphs.
//
// The next three make convolutional networks train on SimpleGo at all. Each replaces one entry of
// graph.VJPRegistration with a rule that calls GoMLX's own rule when the backend implements the
// operations that rule needs (XLA does: nothing changes there), and otherwise builds the same
// gradient from operations every backend has. They read the unexported parameters of Slice,
// ConvGeneral and ReduceWindow nodes with package reflect, as the Dot rule does.
//
//   - "slice-gradient-without-pad": GoMLX v0.26.0's gradient of Slice (sliceVJP) is a Pad of the
//     incoming gradient, and SimpleGo has no Pad. The replacement builds the same padding from
//     Concatenate, Reshape and Slice: zeros between elements for strides (a zero block concatenated
//     along a new axis, then the two axes merged), zeros at the ends by concatenation.
//   - "conv-gradient": GoMLX v0.26.0's gradient of ConvGeneral (convGeneralVJP in ops_convolve.go)
//     reverses the kernel with Reverse, which SimpleGo lacks, and builds both gradient convolutions
//     with nil strides, which SimpleGo's shape check rejects. The replacement computes the input
//     gradient as a convolution of the output gradient (input-dilated by the strides) with the kernel
//     reversed by slicing and concatenating, and the kernel gradient as a convolution of the input
//     with the output gradient, with explicit strides, dilations and paddings (negative paddings cut
//     instead). Grouped convolutions keep GoMLX's rule, which GoMLX documents as unsupported.
//   - "pool-gradient": GoMLX v0.26.0's gradient of max and min pooling (reduceWindowVJP in
//     ops_pool.go) is SelectAndScatterMax/Min, and that of sum and mean pooling uses Pad; SimpleGo
//     has none of them. The replacement sends each window's gradient to its first largest (smallest)
//     element in row-major order, as XLA's SelectAndScatter does, so ties (a zero background, ReLU
//     zeros) resolve the same way on every backend: by a reshape to [..., windows, window, ...] and
//     one comparison when the windows tile the input, otherwise one strided slice of the padded input
//     per window position. [FirstInWindow] and [TiledWindows] are shared with package nn's pooling.
//
// Measured effect (GoMLX v0.26.0, SimpleGo, 2 shared cores): without these three, a graph with a
// convolution, a max pooling or a strided slice on its gradient path does not build at all on
// SimpleGo ("op Reverse not implemented", "stride[0]=0 must be >= 1", no SelectAndScatterMax or Pad).
// The numbers for the convolutional models are in scripts/bench-convnets.sh's output.
//
// # Installing
//
// The workarounds change GoMLX's global tables (graph.VJPRegistration, SimpleGo's kernel
// registries), which GoMLX reads without a lock while it builds gradient graphs and executes
// graphs. So install them once, early — at the start of main, in a
// TestMain, or in a notebook in an init function declared in an early cell (GoNB runs each cell as a
// fresh program that keeps the earlier declarations) — before any graph that takes a gradient is
// built or executed:
//
//	func main() {
//		gomlxfix.Install()
//		...
//	}
//
// Install, Restore and the per-workaround functions are idempotent and safe to call from several
// goroutines at once, but not while another goroutine builds or executes a graph. A graph already
// built keeps the gradient it was built with: after installing or restoring, build new graphs (for
// a train.Trainer, call ResetComputationGraphs); kernels take effect at the next execution. Restore
// and the Restore… functions bring the stock GoMLX behaviour back; they exist for tests and speed
// comparisons.
//
// [Workarounds] lists the workarounds and whether each is installed, for experiment logs.
//
// # Errors
//
// Graph-building code in this package panics, as GoMLX graph code does. A panic whose value wraps
// [ErrGoMLXChanged] means GoMLX's internals differ from what this package was written for.
package gomlxfix
