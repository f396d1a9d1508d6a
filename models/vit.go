package models

import (
	"fmt"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/initializers"
	"github.com/gomlx/gomlx/pkg/ml/layers/activations"
)

// ViTConfig describes a Vision Transformer (Dosovitskiy et al. 2021, "An Image is Worth 16x16
// Words"): square patches embedded linearly, learned position embeddings, pre-LayerNorm blocks of
// multi-head self-attention and a GELU MLP, a final LayerNorm, the tokens mean-pooled (no class
// token) and a linear head.
type ViTConfig struct {
	// Patch is the side of a square patch; the image sides must be multiples of it.
	Patch int
	// Width is the token width d, Heads the attention heads (Width must be a multiple of Heads),
	// MLP the hidden width of each block's MLP, Blocks the number of blocks.
	Width, Heads, MLP, Blocks int
	// BlockHeads, when set, is the number of heads each block keeps after heads were removed
	// physically (experiment.RemoveHeads): block i has BlockHeads[i] heads of Width/Heads features,
	// its q, k, v projections BlockHeads[i]·Width/Heads outputs and its output projection as many
	// inputs. Nil: Heads in every block.
	BlockHeads []int
	NumClasses int
}

// ViTTiny is the configuration of the registry's "vit-tiny": patch 4, width 64, 4 heads of 16, MLP
// 128, 4 blocks, 10 classes.
var ViTTiny = ViTConfig{Patch: 4, Width: 64, Heads: 4, MLP: 128, Blocks: 4, NumClasses: 10}

func init() {
	mustRegister(Model{
		Name: "vit-tiny",
		Description: "a tiny Vision Transformer (Dosovitskiy et al. 2021) for MNIST-sized images: patch 4, width 64, " +
			"4 heads, MLP 128, 4 pre-LayerNorm blocks, mean pooling",
		InputShape: []int{28, 28, 1},
		NumClasses: 10,
		Params:     138890,
		Weights:    132736,
		Dataset:    "mnist",
		Build:      ViTTiny.Build,
	})
}

// Build builds the Vision Transformer for images x [batch, height, width, channels] and returns
// logits [batch, NumClasses]. Its variables, with the dense layers' "<scope>/dense/weights" [in,
// out] and biases:
//
//	embed/dense              patches (Patch·Patch·channels) → Width
//	embed/positions          [tokens, Width] learned position embeddings
//	block<i>/ln1, block<i>/ln2, final_ln   LayerNorm gain and offset
//	block<i>/attn/q, k, v    Width → Width; output column h·(Width/Heads)+j is head h's j-th feature
//	block<i>/attn/out        Width → Width; input row h·(Width/Heads)+j is head h's j-th feature
//	block<i>/mlp/up          Width → MLP (GELU), block<i>/mlp/down MLP → Width
//	head/dense               Width → NumClasses
//	block<i>/attn/head_gates [Heads] and block<i>/block_gate [1]: non-trainable gates, all ones
//	                         (HeadGates, BlockGate), masking heads and blocks when set to 0
//
// so that a head is the slices of q, k, v's columns and out's rows at its offsets, and an MLP
// neuron the up column and down row of one index. Weights are initialized truncated-normal with
// standard deviation 0.02 as in ViT and BERT, biases and offsets zero, gains one. It panics (graph
// building code) when the configuration does not fit the input.
func (c ViTConfig) Build(ctx *context.Context, x *graph.Node) *graph.Node {
	stream := c.stream(ctx, x, nil)
	return c.head(ctx, stream[len(stream)-1])
}

// Stream builds the model up to its last block and returns its residual stream: after the
// embedding and after each block, [batch, tokens, Width] each (Blocks+1 nodes). Block influence
// (ShortGPT) compares consecutive ones. It panics as [ViTConfig.Build] does.
func (c ViTConfig) Stream(ctx *context.Context, x *graph.Node) []*graph.Node {
	return c.stream(ctx, x, nil)
}

// WithoutBlocks returns the model with the given blocks removed: their residual branches are not
// computed (the block is the identity) and their variables not read, so a traced program holds
// neither; what the model computes is what [ViTConfig.Build] computes with those blocks' branches
// zeroed. It panics (graph building code) when a block does not exist or every block is removed.
func (c ViTConfig) WithoutBlocks(blocks ...int) BuildFn {
	skip := skipSet("models.ViT", c.Blocks, blocks)
	return func(ctx *context.Context, x *graph.Node) *graph.Node {
		stream := c.stream(ctx, x, skip)
		return c.head(ctx, stream[len(stream)-1])
	}
}

// stream embeds x and runs the blocks not in skip, returning the residual stream after the
// embedding and after every block (a skipped block repeats its input).
func (c ViTConfig) stream(ctx *context.Context, x *graph.Node, skip map[int]bool) []*graph.Node {
	dims := x.Shape().Dimensions
	if len(dims) != 4 || dims[1]%c.Patch != 0 || dims[2]%c.Patch != 0 {
		panic(fmt.Sprintf("models.ViT: input %s is not [batch, height, width, channels] with sides multiples of %d",
			x.Shape(), c.Patch))
	}
	if c.Heads <= 0 || c.Width%c.Heads != 0 {
		panic(fmt.Sprintf("models.ViT: width %d is not a multiple of the %d heads", c.Width, c.Heads))
	}
	ctx = ctx.WithInitializer(initializers.RandomNormalFn(ctx, 0.02))
	batch, ph, pw, ch := dims[0], dims[1]/c.Patch, dims[2]/c.Patch, dims[3]
	tokens := ph * pw
	// Patches: [batch, ph, P, pw, P, ch] → [batch, ph, pw, P, P, ch] → [batch, tokens, P·P·ch].
	x = graph.Reshape(x, batch, ph, c.Patch, pw, c.Patch, ch)
	x = graph.TransposeAllDims(x, 0, 1, 3, 2, 4, 5)
	x = graph.Reshape(x, batch, tokens, c.Patch*c.Patch*ch)
	x = Dense(ctx, "embed", x, c.Width)
	pos := ctx.In("embed").VariableWithShape("positions", shapes.Make(x.DType(), tokens, c.Width)).ValueGraph(x.Graph())
	x = graph.Add(x, graph.ExpandAxes(pos, 0))
	stream := []*graph.Node{x}
	for i := range c.Blocks {
		if !skip[i] {
			heads := blockHeads("models.ViT", c.Heads, c.BlockHeads, i)
			x = transformerBlock(ctx.In(fmt.Sprintf("block%d", i)), x, heads, c.Width/c.Heads, c.MLP, false, activations.Gelu)
		}
		stream = append(stream, x)
	}
	return stream
}

// head is the final LayerNorm, the mean over tokens and the linear classifier.
func (c ViTConfig) head(ctx *context.Context, x *graph.Node) *graph.Node {
	ctx = ctx.WithInitializer(initializers.RandomNormalFn(ctx, 0.02))
	x = graph.ReduceMean(layerNorm(ctx, "final_ln", x), 1)
	return Dense(ctx, "head", x, c.NumClasses)
}

// skipSet checks a list of blocks to remove from a model of n blocks and returns it as a set.
func skipSet(model string, n int, blocks []int) map[int]bool {
	skip := map[int]bool{}
	for _, b := range blocks {
		if b < 0 || b >= n {
			panic(fmt.Sprintf("%s: block %d does not exist (blocks 0..%d)", model, b, n-1))
		}
		skip[b] = true
	}
	if len(skip) == n {
		panic(fmt.Sprintf("%s: removing all %d blocks leaves no model", model, n))
	}
	return skip
}
