//go:build !amd64 || purego

package gomlxfix

// dotTileAsm is nil: this architecture (or the purego build tag) has no assembly kernel, and the
// portable Go kernel dotTileGo is used.
var dotTileAsm func(lhs, rhs, out *float32, lhsStride, rhsStride, outStride, rows, cols, depth, segments, segmentSkip int)

// dotTileAsmName names the kernel in dotTileAsm, for reports.
const dotTileAsmName = ""
