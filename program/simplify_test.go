package program_test

import (
	"slices"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/prunelab/prunelab/program"
)

// TestSimplify traces convolutions followed by a constant addition (a compensation term), a
// per-channel scale and shift (batch norm) and a ReLU, and checks the rewrites: the scale goes into
// the kernel and the additions merge, so one Add is left after each such convolution, with the
// same outputs; a scale that varies along a spatial axis, and a convolution whose output is also read
// elsewhere, stay as they are.
func TestSimplify(t *testing.T) {
	b := newBackend(t)
	for _, c := range []struct {
		name           string
		spatialScale   bool // the scale varies along the height axis: not per channel
		twoUses        bool // the convolution's output is also an output of the model
		wantMuls, want int  // input-dependent Muls and Adds left
	}{
		{"per-channel", false, false, 0, 1},
		{"spatial-scale", true, false, 1, 1},
		{"two-uses", false, true, 1, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.New()
			ctx.SetParam(context.ParamInitialSeed, int64(5))
			fn := func(ctx *context.Context, x *graph.Node) *graph.Node {
				g := x.Graph()
				k := ctx.VariableWithShape("kernel", shapes.Make(dtypes.Float32, 3, 3, 2, 4)).ValueGraph(g)
				y := graph.Convolve(x, k).StridePerAxis(1, 1).PadSame().Done()
				conv := y
				comp := ctx.VariableWithShape("comp", shapes.Make(dtypes.Float32, 1, 6, 6, 4)).ValueGraph(g)
				y = graph.Add(y, comp)
				scaleDims := []int{1, 1, 1, 4}
				if c.spatialScale {
					scaleDims = []int{1, 6, 1, 1}
				}
				scale := ctx.VariableWithShape("scale", shapes.Make(dtypes.Float32, scaleDims...)).ValueGraph(g)
				shift := ctx.VariableWithShape("shift", shapes.Make(dtypes.Float32, 1, 1, 1, 4)).ValueGraph(g)
				y = graph.Add(graph.Mul(y, graph.AddScalar(scale, 1)), shift)
				y = graph.Max(y, graph.ZerosLike(y))
				if c.twoUses {
					y = graph.Add(y, conv)
				}
				return graph.Reshape(y, -1, 6*6*4)
			}
			x := randomInput(3, []int{6, 6, 2}, 6)
			want := context.MustExecOnce(b, ctx, fn, x)
			p, err := program.Trace(b, ctx, fn, shapes.Make(dtypes.Float32, 6, 6, 2))
			if err != nil {
				t.Fatal(err)
			}
			values, err := p.Values(ctx)
			if err != nil {
				t.Fatal(err)
			}
			folded, _, fctx := fold(t, b, p, values)
			got, err := folded.Run(b, fctx, x)
			if err != nil {
				t.Fatal(err)
			}
			if d := maxAbsDiff(t, want, got); d > 1e-5 {
				t.Errorf("simplified and folded outputs differ by %g", d)
			}
			muls, adds := 0, 0
			var kept []string
			for _, op := range folded.Ops {
				if op.Type != program.OpVariable && op.Type != "Constant" {
					kept = append(kept, op.Type)
				}
				muls += boolInt(op.Type == "Mul")
				adds += boolInt(op.Type == "Add")
			}
			if muls != c.wantMuls || adds != c.want {
				t.Errorf("ops left %v: %d Mul and %d Add, want %d and %d", kept, muls, adds, c.wantMuls, c.want)
			}
			if !slices.Contains(kept, "ConvGeneral") {
				t.Errorf("no convolution left: %v", kept)
			}
		})
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
