//go:build !purego

#include "textflag.h"

// func dotTileAVX2(lhs, rhs, out *float32, lhsStride, rhsStride, outStride, rows, cols, depth, segments, segmentSkip int)
//
// out[i*outStride+j] += sum over k < segments*depth of lhs_i[k] * rhs[j*rhsStride+k], for i < rows
// and j < cols, where row i of lhs is made of segments runs of depth values, run s starting at
// lhs[i*lhsStride + s*(depth+segmentSkip)] (segmentSkip values skipped between runs; one segment
// is a plain row), and each rhs row is contiguous. A product with the contracting axis last in
// both operands, as SimpleGo lays out its blocks and normalized operands; the segments let a
// convolution read the rows of its window in a padded image as one contracting axis. rows must be
// a positive multiple of 2, cols of 4 and depth of 8, segments positive; strides are in elements.
// Each tile of 2 lhs rows by 4 rhs rows accumulates in 8 AVX registers, 8 floats of the
// contracting axis at a time, then is reduced horizontally and added to its 2x4 outputs.
TEXT ·dotTileAVX2(SB), NOSPLIT, $8-88
	MOVQ lhs+0(FP), SI
	MOVQ rhs+8(FP), DX
	MOVQ out+16(FP), DI
	MOVQ lhsStride+24(FP), R8
	SHLQ $2, R8               // R8: lhs row stride in bytes
	MOVQ rhsStride+32(FP), R9
	SHLQ $2, R9               // R9: rhs row stride in bytes
	MOVQ outStride+40(FP), CX
	SHLQ $2, CX               // CX: out row stride in bytes
	MOVQ rows+48(FP), R13
	SHRQ $1, R13              // R13: pairs of lhs rows left
	SHLQ $2, segmentSkip+80(FP) // segmentSkip in bytes, from the end of one run to the next

rows:
	MOVQ DX, R14              // R14: rhs row j (j = 0)
	MOVQ DI, R12              // R12: out[i][j]
	MOVQ cols+56(FP), BX
	SHRQ $2, BX               // BX: quads of rhs rows left

cols:
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	MOVQ SI, R10              // R10: lhs row i, at chunk k
	MOVQ R14, R11             // R11: rhs row j, at chunk k
	LEAQ (R14)(R9*2), AX      // AX: rhs row j+2, at chunk k
	MOVQ segments+72(FP), R15
	MOVQ R15, segs-8(SP)      // segs: runs of the lhs rows left

segment:
	MOVQ depth+64(FP), R15
	SHRQ $3, R15              // R15: chunks of 8 floats left in this run

chunks:
	VMOVUPS (R10), Y8         // lhs row i
	VMOVUPS (R10)(R8*1), Y9   // lhs row i+1
	VMOVUPS (R11), Y10        // rhs row j
	VMOVUPS (R11)(R9*1), Y11  // rhs row j+1
	VFMADD231PS Y10, Y8, Y0
	VFMADD231PS Y11, Y8, Y1
	VFMADD231PS Y10, Y9, Y4
	VFMADD231PS Y11, Y9, Y5
	VMOVUPS (AX), Y10         // rhs row j+2
	VMOVUPS (AX)(R9*1), Y11   // rhs row j+3
	VFMADD231PS Y10, Y8, Y2
	VFMADD231PS Y11, Y8, Y3
	VFMADD231PS Y10, Y9, Y6
	VFMADD231PS Y11, Y9, Y7
	ADDQ $32, R10
	ADDQ $32, R11
	ADDQ $32, AX
	DECQ R15
	JNZ  chunks
	ADDQ segmentSkip+80(FP), R10 // next run of lhs rows i and i+1; rhs rows go on
	DECQ segs-8(SP)
	JNZ  segment

	// Row i: Y0..Y3 hold the partial sums of out[i][j..j+3].
	VHADDPS Y1, Y0, Y0
	VHADDPS Y3, Y2, Y2
	VHADDPS Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	VMOVUPS (R12), X1
	VADDPS X1, X0, X0
	VMOVUPS X0, (R12)

	// Row i+1: Y4..Y7.
	VHADDPS Y5, Y4, Y4
	VHADDPS Y7, Y6, Y6
	VHADDPS Y6, Y4, Y4
	VEXTRACTF128 $1, Y4, X5
	VADDPS X5, X4, X4
	VMOVUPS (R12)(CX*1), X5
	VADDPS X5, X4, X4
	VMOVUPS X4, (R12)(CX*1)

	ADDQ $16, R12             // next 4 outputs
	LEAQ (R14)(R9*4), R14     // next 4 rhs rows
	DECQ BX
	JNZ  cols

	LEAQ (SI)(R8*2), SI       // next 2 lhs rows
	LEAQ (DI)(CX*2), DI       // next 2 output rows
	DECQ R13
	JNZ  rows

	VZEROUPPER
	RET
