package program

import "slices"

// MatMul is an op that multiplies rows by a matrix read from a variable: a dense layer's x·W, or a
// convolution computed as patches × kernel (package nn on the pure-Go backend).
type MatMul struct {
	// Op is the index of the Dot or DotGeneral op; Rows the index of its left operand, whose last
	// axis (of size K) is contracted.
	Op, Rows int
	// Var is the variable path; the matrix is the variable viewed as [K, N] in row-major order, so
	// N is the variable's last dimension (its output units) and K the product of the others.
	Var  string
	K, N int
	// Transposed says the variable holds the matrix transposed, [N, K] (the layout of ONNX's Gemm
	// with transB and of PyTorch's Linear): x·Wᵀ, a DotGeneral contracting the last axes of both.
	Transposed bool
}

// MatMuls lists the multiplications of rows by a variable's matrix, in program order: Dot of two
// matrices, DotGeneral contracting the left operand's last axis with the first axis of a matrix, or
// the same with the matrix broadcast over a leading batch axis, or contracting the last axes of the
// left operand and of a matrix stored transposed ([MatMul.Transposed]). The matrix operand may
// reach the variable through Reshape, BroadcastInDim, Identity and ConvertDType ops.
func (p *Program) MatMuls() []MatMul {
	var out []MatMul
	for i, op := range p.Ops {
		var mat int
		transposed := false
		switch {
		case op.Type == "Dot" && len(p.Ops[op.Inputs[0]].Dims) == 2 && len(p.Ops[op.Inputs[1]].Dims) == 2:
			mat = op.Inputs[1]
		case op.Type == "DotGeneral":
			l, r := p.Ops[op.Inputs[0]], p.Ops[op.Inputs[1]]
			last := len(l.Dims) - 1
			if !slices.Equal(op.Contracting[0], []int{last}) {
				continue
			}
			switch {
			case len(op.Batch[0]) == 0 && len(r.Dims) == 2 && slices.Equal(op.Contracting[1], []int{0}):
				mat = op.Inputs[1]
			case len(op.Batch[0]) == 0 && len(r.Dims) == 2 && slices.Equal(op.Contracting[1], []int{1}):
				mat, transposed = op.Inputs[1], true
			case slices.Equal(op.Batch[0], []int{0}) && slices.Equal(op.Batch[1], []int{0}) && len(r.Dims) == 3 &&
				slices.Equal(op.Contracting[1], []int{1}):
				mat = op.Inputs[1]
			default:
				continue
			}
		default:
			continue
		}
		d := p.Ops[mat].Dims
		k, n := d[len(d)-2], d[len(d)-1]
		if transposed {
			k, n = n, k
		}
		j := mat
		for p.Ops[j].Type != OpVariable {
			t := p.Ops[j].Type
			if t != "Reshape" && t != "BroadcastInDim" && t != "Identity" && t != "ConvertDType" {
				j = -1
				break
			}
			j = p.Ops[j].Inputs[0]
		}
		if j < 0 {
			continue
		}
		v := p.Ops[j]
		if transposed && (len(v.Dims) != 2 || v.Dims[0] != n || v.Dims[1] != k) {
			continue
		}
		if len(v.Dims) < 2 || (!transposed && v.Dims[len(v.Dims)-1] != n) || size(v.Dims) != k*n {
			continue
		}
		out = append(out, MatMul{Op: i, Rows: op.Inputs[0], Var: v.Var, K: k, N: n, Transposed: transposed})
	}
	return out
}

func size(dims []int) int {
	n := 1
	for _, d := range dims {
		n *= d
	}
	return n
}
