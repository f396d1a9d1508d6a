package pruning_test

import (
	"encoding/json"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/prunelab/prunelab/pruning"
)

// TestLayouts: a variable with an explicit layout (an [out, in] weight, as ONNX's Gemm holds it)
// is described by it, also after a checkpoint restore turns the parameter into decoded JSON; and
// Exactly selects it by path.
func TestLayouts(t *testing.T) {
	layout := pruning.Layout{Kind: pruning.KindDense, Out: pruning.Axes{Begin: 0, End: 1}, In: pruning.Axes{Begin: 1, End: 2}}
	for _, restored := range []bool{false, true} {
		ctx := context.New()
		ctx.InAbsPath("/ONNX").VariableWithValue("fc.weight", tensors.FromValue([][]float32{{1, 2, 3}, {4, 5, 6}}))
		ctx.InAbsPath("/ONNX").VariableWithValue("other.weight", tensors.FromValue([][]float32{{1, 2}}))
		pruning.SetLayouts(ctx, map[string]pruning.Layout{"/ONNX/fc.weight": layout})
		if restored {
			v, _ := ctx.GetParam(pruning.ParamLayouts)
			b, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			var decoded any
			if err := json.Unmarshal(b, &decoded); err != nil {
				t.Fatal(err)
			}
			ctx.SetParam(pruning.ParamLayouts, decoded)
		}
		targets, err := pruning.SelectTargets(ctx, pruning.Exactly("/ONNX/fc.weight"))
		if err != nil {
			t.Fatal(err)
		}
		if len(targets) != 1 || targets[0].Kind != pruning.KindDense || targets[0].NumOutputs() != 2 || targets[0].NumInputs() != 3 {
			t.Errorf("restored %v: targets %+v, want the [out 2, in 3] dense weight alone", restored, targets)
		}
	}
}
