package sparse

import (
	"fmt"
	"math"
)

// CSR is a sparse matrix in compressed sparse row form: the non-zeros of row i are Values[p] at
// column ColIdx[p] for p in [RowPtr[i], RowPtr[i+1]). For a dense layer's kernel W shaped
// [in, out], rows are inputs and columns outputs, so y = x·W scatters each non-zero input into the
// outputs its row reaches, and inputs that are zero (after a ReLU, or black MNIST pixels) cost
// nothing.
type CSR struct {
	Rows, Cols int
	RowPtr     []int32
	ColIdx     []int32
	Values     []float32
}

// NewCSR builds the CSR form of the row-major rows×cols matrix dense, keeping its non-zeros. It
// returns an error if the sizes do not match or do not fit int32 indices.
func NewCSR(rows, cols int, dense []float32) (*CSR, error) {
	if rows < 0 || cols < 0 || rows*cols != len(dense) {
		return nil, fmt.Errorf("sparse: NewCSR: %d×%d matrix with %d values", rows, cols, len(dense))
	}
	if len(dense) > math.MaxInt32 {
		return nil, fmt.Errorf("sparse: NewCSR: %d×%d is too large for int32 indices", rows, cols)
	}
	m := &CSR{Rows: rows, Cols: cols, RowPtr: make([]int32, rows+1)}
	nnz := 0
	for _, v := range dense {
		if v != 0 {
			nnz++
		}
	}
	m.ColIdx = make([]int32, 0, nnz)
	m.Values = make([]float32, 0, nnz)
	for i := range rows {
		row := dense[i*cols : (i+1)*cols]
		for j, v := range row {
			if v != 0 {
				m.ColIdx = append(m.ColIdx, int32(j))
				m.Values = append(m.Values, v)
			}
		}
		m.RowPtr[i+1] = int32(len(m.Values))
	}
	return m, nil
}

// NNZ returns the number of stored non-zeros.
func (m *CSR) NNZ() int { return len(m.Values) }

// Density returns the fraction of entries that are non-zero (0 for an empty matrix).
func (m *CSR) Density() float64 {
	if m.Rows*m.Cols == 0 {
		return 0
	}
	return float64(m.NNZ()) / float64(m.Rows*m.Cols)
}

// MatMul sets y = x·m for a batch of row vectors: x is [batch, Rows] and y [batch, Cols], both
// row-major. Zero entries of x are skipped. It panics if the slices are too short.
func (m *CSR) MatMul(y, x []float32, batch int) {
	rows, cols := m.Rows, m.Cols
	x, y = x[:batch*rows], y[:batch*cols]
	for b := range batch {
		yb := y[b*cols : (b+1)*cols]
		clear(yb)
		xb := x[b*rows : (b+1)*rows]
		for i, xv := range xb {
			if xv == 0 {
				continue
			}
			start, end := m.RowPtr[i], m.RowPtr[i+1]
			idx := m.ColIdx[start:end]
			vals := m.Values[start:end]
			vals = vals[:len(idx)]
			for p, j := range idx {
				yb[j] += xv * vals[p]
			}
		}
	}
}

// DenseMatMul sets y = x·w with w a dense row-major [rows, cols] matrix, x [batch, rows] and y
// [batch, cols]: the plain Go loop the CSR kernel is compared with. Zero entries of x are skipped
// when skipZeros is true (what the CSR kernel does too).
func DenseMatMul(y, x, w []float32, batch, rows, cols int, skipZeros bool) {
	x, y, w = x[:batch*rows], y[:batch*cols], w[:rows*cols]
	for b := range batch {
		yb := y[b*cols : (b+1)*cols]
		clear(yb)
		xb := x[b*rows : (b+1)*rows]
		for i, xv := range xb {
			if skipZeros && xv == 0 {
				continue
			}
			row := w[i*cols : (i+1)*cols]
			row = row[:len(yb)]
			for j, wv := range row {
				yb[j] += xv * wv
			}
		}
	}
}
