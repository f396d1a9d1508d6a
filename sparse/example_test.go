package sparse_test

import (
	"fmt"

	"github.com/prunelab/prunelab/sparse"
)

func ExampleCSR_MatMul() {
	// W is a [3 inputs, 2 outputs] weight matrix with two non-zeros.
	w := []float32{
		0, 2,
		0, 0,
		-1, 0,
	}
	m, err := sparse.NewCSR(3, 2, w)
	if err != nil {
		panic(err)
	}
	x := []float32{1, 5, 3} // one input row
	y := make([]float32, 2)
	m.MatMul(y, x, 1)
	fmt.Println(y, m.NNZ(), m.Density())
	// Output: [-3 2] 2 0.3333333333333333
}
