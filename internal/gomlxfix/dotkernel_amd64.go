//go:build !purego

package gomlxfix

import "golang.org/x/sys/cpu"

// dotTileAVX2 adds lhs·rhsᵀ to out for rows×cols outputs over segments·depth contracted elements,
// with row strides given in elements (see dotTileGo), each lhs row read as segments runs of depth
// values with segmentSkip values skipped between them (dotProductSegments); rows must be a positive
// multiple of 2, cols of 4 and depth of 8. Implemented in dotkernel_amd64.s.
//
//go:noescape
func dotTileAVX2(lhs, rhs, out *float32, lhsStride, rhsStride, outStride, rows, cols, depth, segments, segmentSkip int)

// dotTileAsm is the assembly tile kernel of this machine, nil where the CPU lacks AVX2 or FMA.
var dotTileAsm = func() func(lhs, rhs, out *float32, lhsStride, rhsStride, outStride, rows, cols, depth, segments, segmentSkip int) {
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		return dotTileAVX2
	}
	return nil
}()

// dotTileAsmName names the kernel in dotTileAsm, for reports.
const dotTileAsmName = "AVX2+FMA"
