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
// # Installing
//
// The workarounds change GoMLX's global tables (graph.VJPRegistration), which GoMLX reads without
// a lock while it builds gradient graphs. So install them once, early — at the start of main, in a
// TestMain, or in a notebook in an init function declared in an early cell (GoNB runs each cell as a
// fresh program that keeps the earlier declarations) — before any graph that takes a gradient is
// built:
//
//	func main() {
//		gomlxfix.Install()
//		...
//	}
//
// Install, Restore and the per-workaround functions are idempotent and safe to call from several
// goroutines at once, but not while another goroutine builds a graph. A graph already built keeps
// the gradient it was built with: after installing or restoring, build new graphs (for a
// train.Trainer, call ResetComputationGraphs). Restore and the Restore… functions bring the stock
// GoMLX behaviour back; they exist for tests and speed comparisons.
//
// [Workarounds] lists the workarounds and whether each is installed, for experiment logs.
//
// # Errors
//
// Graph-building code in this package panics, as GoMLX graph code does. A panic whose value wraps
// [ErrGoMLXChanged] means GoMLX's internals differ from what this package was written for.
package gomlxfix
