package models

import (
	"fmt"
	"math"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/initializers"
	"github.com/gomlx/gomlx/pkg/ml/layers"
)

// transformerBlock is one pre-LayerNorm Transformer block over x [batch, T, width]:
// x + g·attn(ln1(x)), then + g·down(gelu(up(ln2(x)))), with its variables in ctx's scopes ln1, ln2,
// attn/{q,k,v,out} and mlp/{up,down} (see [ViTConfig.Build] for their layout) and its gate g
// ([BlockGate]); heads of hd features.
func transformerBlock(ctx *context.Context, x *graph.Node, heads, hd, mlp int, causal bool,
	gelu func(*graph.Node) *graph.Node) *graph.Node {
	width := x.Shape().Dimensions[2]
	// Block gate: one non-trainable factor on both residual branches, 1 unless the block is masked
	// (0: the block is the identity, as WithoutBlocks builds it); the loss's gradient with respect
	// to it is the block's first-order importance. Initialized by a constant, it draws nothing
	// from the random initializers, so the trained variables start where they did without it.
	v := ctx.WithInitializer(initializers.One).VariableWithShape(BlockGate, shapes.Make(x.DType(), 1))
	v.Trainable = false
	gate := graph.Reshape(v.ValueGraph(x.Graph())) // a scalar
	x = graph.Add(x, graph.Mul(selfAttention(ctx.In("attn"), layerNorm(ctx, "ln1", x), heads, hd, causal), gate))
	h := gelu(Dense(ctx.In("mlp"), "up", layerNorm(ctx, "ln2", x), mlp))
	return graph.Add(x, graph.Mul(Dense(ctx.In("mlp"), "down", h, width), gate))
}

// selfAttention is multi-head self-attention over x [batch, T, width] with heads of hd features
// (heads·hd is width unless heads were removed), heads as contiguous slices of the q, k, v
// projections' outputs and of the output projection's inputs; causal masks the keys after each
// query (a decoder).
func selfAttention(ctx *context.Context, x *graph.Node, heads, hd int, causal bool) *graph.Node {
	dims := x.Shape().Dimensions
	batch, t, width := dims[0], dims[1], dims[2]
	split := func(name string) *graph.Node { // [batch, T, heads, hd]
		return graph.Reshape(Dense(ctx, name, x, heads*hd), batch, t, heads, hd)
	}
	q, k, v := split("q"), split("k"), split("v")
	scores := graph.Einsum("bthd,bshd->bhts", q, k)
	scores = graph.MulScalar(scores, 1/math.Sqrt(float64(hd)))
	if causal {
		scores = graph.Add(scores, causalMask(x.Graph(), x.DType(), t))
	}
	att := graph.Softmax(scores, -1)
	out := graph.Einsum("bhts,bshd->bthd", att, v)
	// Head gates (Michel et al. 2019): one non-trainable factor per head, 1 unless a head is
	// masked (0); the loss's gradient with respect to them is the heads' importance.
	gates := ctx.WithInitializer(initializers.One).VariableWithShape(HeadGates, shapes.Make(x.DType(), heads))
	gates.Trainable = false
	out = graph.Mul(out, graph.Reshape(gates.ValueGraph(x.Graph()), 1, 1, heads, 1))
	return Dense(ctx, "out", graph.Reshape(out, batch, t, heads*hd), width)
}

// blockHeads is the number of heads of block i: kept[i] when heads were removed, else heads.
// It panics when a block keeps no head.
func blockHeads(model string, heads int, kept []int, i int) int {
	if kept == nil {
		return heads
	}
	if len(kept) <= i || kept[i] < 1 || kept[i] > heads {
		panic(fmt.Sprintf("%s: BlockHeads %v: block %d needs 1..%d heads", model, kept, i, heads))
	}
	return kept[i]
}

// HeadGates is the name of each attention layer's variable of head gates ("block<i>/attn/head_gates",
// [heads], not trainable): every head's output is multiplied by its gate before the output
// projection. All ones by default; a head whose gate is 0 is masked (it contributes nothing).
const HeadGates = "head_gates"

// BlockGate is the name of each Transformer block's gate ("block<i>/block_gate", [1], not
// trainable): both residual branches of the block (attention and MLP) are multiplied by it. One by
// default; a block whose gate is 0 is masked: it passes its input on unchanged, which is what the
// model built without it (ViTConfig.WithoutBlocks, GPTConfig.WithoutBlocks) computes. Checkpoints
// saved before the gate existed restore unchanged: the gate is created, at one, on the first build.
const BlockGate = "block_gate"

// layerNorm is a LayerNormalization over the last axis in scope name, with gain and offset
// (epsilon 1e-6 as in ViT).
func layerNorm(ctx *context.Context, name string, x *graph.Node) *graph.Node {
	return layers.LayerNormalization(ctx.In(name), x, -1).Epsilon(1e-6).Done()
}
