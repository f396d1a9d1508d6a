package onnxmodel_test

import (
	"fmt"

	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/prunelab/prunelab/onnxmodel"
	"github.com/prunelab/prunelab/pruning"
)

// An ONNX file from torch.onnx.export (Linear 4→3, ReLU, Linear 3→2): its prunable layers are the
// Gemm weights, [out, in] as PyTorch stores them, and pruning ranks them like any model's.
func Example() {
	m, err := onnxmodel.Open("testdata/tiny.onnx")
	if err != nil {
		panic(err)
	}
	fmt.Printf("input %s, output %s, opset %d, %d parameters\n", m.Input, m.Output, m.Opset, m.Params)
	for _, l := range m.Layers {
		fmt.Printf("%s %s %v → %s (outputs on axis %d)\n", l.Op, l.Initializer, l.Shape, l.Path, l.Layout.Out.Begin)
	}
	ctx := context.New()
	if err := m.LoadVariables(ctx); err != nil {
		panic(err)
	}
	if _, err := pruning.AttachMasks(ctx, m.Selector()); err != nil {
		panic(err)
	}
	res, err := pruning.PruneOnce(ctx, pruning.Config{Allocation: pruning.Global{}}, pruning.Sparsity(0.5))
	if err != nil {
		panic(err)
	}
	fmt.Printf("pruned %d of %d weights\n", res.PrunedAfter, res.Size)
	// Output:
	// input input [batch 4], output output [batch 2], opset 13, 23 parameters
	// Gemm 0.weight [3 4] → /ONNX/0.weight (outputs on axis 0)
	// Gemm 2.weight [2 3] → /ONNX/2.weight (outputs on axis 0)
	// pruned 9 of 18 weights
}
