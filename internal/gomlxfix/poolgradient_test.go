package gomlxfix

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/google/go-cmp/cmp"
)

// poolCase is one ReduceWindow configuration.
type poolCase struct {
	op                    backends.ReduceOpType
	dims, window, strides []int
	paddings              [][2]int
}

func (c poolCase) String() string {
	return fmt.Sprintf("%s_x%v_window%v_strides%v_pad%v", c.op, c.dims, c.window, c.strides, c.paddings)
}

func (c poolCase) pool(inputs []*graph.Node) *graph.Node {
	return graph.BackendReduceWindow(inputs[0], c.op, c.window, c.strides, nil, nil, c.paddings)
}

// randomPoolCase draws a pooling over a rank 2–4 operand: windows 1–3 per axis, strides 1–3
// (overlapping, tiling or leaving gaps), paddings smaller than the window (so no window is all padding).
func randomPoolCase(rng *rand.Rand, op backends.ReduceOpType) poolCase {
	rank := 2 + rng.IntN(3)
	c := poolCase{op: op, dims: make([]int, rank), window: make([]int, rank), strides: make([]int, rank)}
	padded := rng.IntN(2) == 0
	if padded {
		c.paddings = make([][2]int, rank)
	}
	for axis := range rank {
		c.window[axis] = 1 + rng.IntN(3)
		c.strides[axis] = 1 + rng.IntN(3)
		if padded {
			c.paddings[axis] = [2]int{rng.IntN(c.window[axis]), rng.IntN(c.window[axis])}
		}
		c.dims[axis] = c.window[axis] + rng.IntN(4)
	}
	return c
}

// TestPoolGradientNumerical checks max, min and sum pooling gradients against central differences:
// tiling windows (the reshape path, with and without a remainder), and random windows, strides and
// paddings (the general path). Input values are distinct, so there are no ties.
func TestPoolGradientNumerical(t *testing.T) {
	installed(t)
	rng := rand.New(rand.NewPCG(6, 6))
	ops := []backends.ReduceOpType{backends.ReduceOpMax, backends.ReduceOpMin, backends.ReduceOpSum}
	var cases []poolCase
	for _, op := range ops {
		cases = append(cases,
			poolCase{op: op, dims: []int{2, 4, 6, 3}, window: []int{1, 2, 2, 1}, strides: []int{1, 2, 2, 1}}, // MaxPool 2x2
			poolCase{op: op, dims: []int{1, 5, 7, 2}, window: []int{1, 2, 3, 1}, strides: []int{1, 2, 3, 1}}, // remainder
			poolCase{op: op, dims: []int{1, 5, 5, 1}, window: []int{1, 3, 3, 1}, strides: []int{1, 2, 2, 1}}, // overlapping
			poolCase{op: op, dims: []int{1, 4, 4, 1}, window: []int{1, 3, 3, 1}, strides: []int{1, 1, 1, 1}, // pad same
				paddings: [][2]int{{0, 0}, {1, 1}, {1, 1}, {0, 0}}})
		for range 10 {
			cases = append(cases, randomPoolCase(rng, op))
		}
	}
	for i, c := range cases {
		t.Run(fmt.Sprintf("%02d_%s", i, c), func(t *testing.T) {
			newGradCheck(rng, c.pool, c.dims).check(t, rng)
		})
	}
}

// TestPoolGradientTies checks that the gradient of each max (min) pooling window goes to its first
// largest (smallest) element, as XLA's SelectAndScatter does, on both paths.
func TestPoolGradientTies(t *testing.T) {
	installed(t)
	// A 4x4 image with ties: a zero background and two equal maxima in the top-left 2x2 window.
	x := []float64{
		0, 0, 0, 0,
		5, 5, 0, 0,
		0, 0, 0, 0,
		0, 0, 0, 1,
	}
	for _, tc := range []struct {
		name            string
		op              backends.ReduceOpType
		window, strides []int
		paddings        [][2]int
		want            []float64
	}{
		{"max_tiled", backends.ReduceOpMax, []int{1, 2, 2, 1}, []int{1, 2, 2, 1}, nil, []float64{
			0, 0, 1, 0,
			1, 0, 0, 0,
			1, 0, 0, 0,
			0, 0, 0, 1,
		}},
		{"min_tiled", backends.ReduceOpMin, []int{1, 2, 2, 1}, []int{1, 2, 2, 1}, nil, []float64{
			1, 0, 1, 0,
			0, 0, 0, 0,
			1, 0, 1, 0,
			0, 0, 0, 0,
		}},
		// 3x3 windows, stride 1, no padding: windows at (0,0), (0,1), (1,0), (1,1).
		{"max_overlapping", backends.ReduceOpMax, []int{1, 3, 3, 1}, []int{1, 1, 1, 1}, nil, []float64{
			0, 0, 0, 0,
			2, 2, 0, 0,
			0, 0, 0, 0,
			0, 0, 0, 0,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			exec, err := graph.NewExec(backend(), func(x *graph.Node) *graph.Node {
				pooled := graph.BackendReduceWindow(x, tc.op, tc.window, tc.strides, nil, nil, tc.paddings)
				return graph.Gradient(graph.ReduceAllSum(pooled), x)[0]
			})
			if err != nil {
				t.Fatal(err)
			}
			got := tensors.MustCopyFlatData[float64](exec.MustExec(tensors.FromFlatDataAndDimensions(x, 1, 4, 4, 1))[0])
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("gradient: -want +got:\n%s", diff)
			}
		})
	}
}

// TestMaxPoolBuilderTrainsOnPureGo takes the gradient of graph.MaxPool and graph.MeanPool (what
// GoMLX's pooling layers build) on the pure-Go backend: without the workaround this panics
// (no SelectAndScatterMax, no Pad).
func TestMaxPoolBuilderTrainsOnPureGo(t *testing.T) {
	installed(t)
	rng := rand.New(rand.NewPCG(8, 8))
	for _, tc := range []struct {
		name string
		pool func(inputs []*graph.Node) *graph.Node
	}{
		{"MaxPool", func(in []*graph.Node) *graph.Node { return graph.MaxPool(in[0]).Window(2).Done() }},
		{"MaxPool_PadSame", func(in []*graph.Node) *graph.Node { return graph.MaxPool(in[0]).Window(3).Strides(2).PadSame().Done() }},
		{"MeanPool", func(in []*graph.Node) *graph.Node { return graph.MeanPool(in[0]).Window(2).Done() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			newGradCheck(rng, tc.pool, []int{2, 5, 6, 3}).check(t, rng)
		})
	}
}

func TestTiledWindows(t *testing.T) {
	used, split, windowAxes := TiledWindows([]int{2, 5, 7, 3}, []int{1, 2, 3, 1})
	if !slices.Equal(used, []int{2, 4, 6, 3}) || !slices.Equal(split, []int{2, 1, 2, 2, 2, 3, 3, 1}) ||
		!slices.Equal(windowAxes, []int{1, 3, 5, 7}) {
		t.Errorf("TiledWindows = %v, %v, %v", used, split, windowAxes)
	}
}
