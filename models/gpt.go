package models

import (
	"fmt"
	"math"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/initializers"
)

// GPTVocabulary is the number of tokens of the byte-level language models: one per byte value.
const GPTVocabulary = 256

// GPTConfig describes a causal decoder-only Transformer language model over bytes, as GPT-2
// (Radford et al. 2019, "Language Models are Unsupervised Multitask Learners"): token and learned
// position embeddings, pre-LayerNorm blocks of causal multi-head self-attention and a GELU MLP
// (GPT-2's tanh approximation), a final LayerNorm and a linear head to the next byte's logits.
// Unlike GPT-2, the head is not tied to the token embedding (it is an ordinary, prunable dense
// layer) and the tokens are the 256 byte values.
type GPTConfig struct {
	// Context is the number of bytes the model reads (its largest input length).
	Context int
	// Width is the token width d, Heads the attention heads (Width must be a multiple of Heads),
	// MLP the hidden width of each block's MLP, Blocks the number of blocks.
	Width, Heads, MLP, Blocks int
	// BlockHeads, when set, is the number of heads each block keeps after heads were removed
	// physically (experiment.RemoveHeads): block i has BlockHeads[i] heads of Width/Heads features,
	// its q, k, v projections BlockHeads[i]·Width/Heads outputs and its output projection as many
	// inputs. Nil: Heads in every block.
	BlockHeads []int
}

// GPTTiny is the configuration of the registry's "gpt-tiny": context 64, width 64, 4 heads of 16,
// MLP 256, 2 blocks.
var GPTTiny = GPTConfig{Context: 64, Width: 64, Heads: 4, MLP: 256, Blocks: 2}

func init() {
	mustRegister(Model{
		Name: "gpt-tiny",
		Description: "a tiny byte-level GPT (Radford et al. 2019) for Go source: context 64, width 64, " +
			"4 heads, MLP 256, 2 pre-LayerNorm causal blocks; trained by package lm, not the classification driver",
		InputShape: []int{GPTTiny.Context},
		NumClasses: GPTVocabulary,
		Params:     137216, // GPTTiny.Params()
		Weights:    114688, // GPTTiny.Weights()
		Dataset:    "go-source",
		Build:      GPTTiny.NextByte,
	})
}

// Params is the number of trainable parameters: embeddings, positions, per block two LayerNorms,
// q, k, v, out (Width×Width and biases), up (Width×MLP) and down (MLP×Width) with biases, the final
// LayerNorm and the head (Width×256 and biases).
func (c GPTConfig) Params() int {
	w, m := c.Width, c.MLP
	block := 2*2*w + 4*(w*w+w) + (w*m + m) + (m*w + w)
	return GPTVocabulary*w + c.Context*w + c.Blocks*block + 2*w + (w*GPTVocabulary + GPTVocabulary)
}

// Weights is the number of parameters in the dense layers' weight matrices (the variables named
// "weights" that pruning selects by default): q, k, v, out, up, down of every block and the head.
// The token embedding and the positions are not among them.
func (c GPTConfig) Weights() int {
	return c.Blocks*(4*c.Width*c.Width+2*c.Width*c.MLP) + c.Width*GPTVocabulary
}

// Build builds the language model for x, float32 [batch, T] holding byte values 0..255 with
// T <= Context, and returns the logits of each position's next byte, [batch, T, 256]: position t
// sees the bytes 0..t only. The classification training driver (package training) does not train
// it; package lm does. Its variables, with the dense layers' "<scope>/dense/weights" [in, out] and
// biases:
//
//	embed/embeddings         [256, Width] token embeddings, multiplied by the inputs' one-hot rows
//	embed/positions          [Context, Width] learned position embeddings
//	block<i>/ln1, block<i>/ln2, final_ln   LayerNorm gain and offset
//	block<i>/attn/q, k, v    Width → Width; output column h·(Width/Heads)+j is head h's j-th feature
//	block<i>/attn/out        Width → Width; input row h·(Width/Heads)+j is head h's j-th feature
//	block<i>/mlp/up          Width → MLP (GELU), block<i>/mlp/down MLP → Width
//	head/dense               Width → 256
//	block<i>/attn/head_gates [Heads] and block<i>/block_gate [1]: non-trainable gates, all ones
//	                         (HeadGates, BlockGate), masking heads and blocks when set to 0
//
// so heads and MLP neurons are slices at the same offsets as in [ViTConfig.Build]. The token
// lookup is a one-hot (Iota, Equal) times the embedding matrix rather than a Gather, so that
// package program can trace the model; a value that is not a whole number in 0..255 embeds as
// zeros. The causal mask adds −1e9 to the attention scores above the diagonal before the softmax.
// Weights and embeddings are initialized normal with standard deviation 0.02 as in GPT-2, biases
// and offsets zero, gains one. It panics (graph building code) when the configuration does not
// fit the input.
func (c GPTConfig) Build(ctx *context.Context, x *graph.Node) *graph.Node {
	stream := c.stream(ctx, x, nil)
	return c.head(ctx, stream[len(stream)-1])
}

// Stream builds the model up to its last block and returns its residual stream: after the
// embedding and after each block, [batch, T, Width] each (Blocks+1 nodes). Block influence
// (ShortGPT) compares consecutive ones. It panics as [GPTConfig.Build] does.
func (c GPTConfig) Stream(ctx *context.Context, x *graph.Node) []*graph.Node {
	return c.stream(ctx, x, nil)
}

// WithoutBlocks returns the model ([GPTConfig.Build]'s logits, [batch, T, 256]) with the given
// blocks removed: their residual branches are not computed and their variables not read; what it
// computes is what Build computes with those blocks' branches zeroed. It panics (graph building
// code) when a block does not exist or every block is removed.
func (c GPTConfig) WithoutBlocks(blocks ...int) BuildFn {
	skip := skipSet("models.GPT", c.Blocks, blocks)
	return func(ctx *context.Context, x *graph.Node) *graph.Node {
		stream := c.stream(ctx, x, skip)
		return c.head(ctx, stream[len(stream)-1])
	}
}

// stream embeds x and runs the blocks not in skip, returning the residual stream after the
// embedding and after every block (a skipped block repeats its input).
func (c GPTConfig) stream(ctx *context.Context, x *graph.Node, skip map[int]bool) []*graph.Node {
	dims := x.Shape().Dimensions
	if len(dims) != 2 || dims[1] < 1 || dims[1] > c.Context {
		panic(fmt.Sprintf("models.GPT: input %s is not [batch, T] with 1 <= T <= context %d", x.Shape(), c.Context))
	}
	if c.Heads <= 0 || c.Width%c.Heads != 0 {
		panic(fmt.Sprintf("models.GPT: width %d is not a multiple of the %d heads", c.Width, c.Heads))
	}
	ctx = ctx.WithInitializer(initializers.RandomNormalFn(ctx, 0.02))
	g, dtype, t := x.Graph(), x.DType(), dims[1]
	// One-hot [batch, T, 256] times the embeddings [256, Width].
	values := graph.Iota(g, shapes.Make(dtype, 1, 1, GPTVocabulary), 2)
	oneHot := graph.ConvertDType(graph.Equal(graph.InsertAxes(x, -1), values), dtype)
	embed := ctx.In("embed")
	tokens := embed.VariableWithShape("embeddings", shapes.Make(dtype, GPTVocabulary, c.Width)).ValueGraph(g)
	x = graph.DotGeneral(oneHot, []int{2}, nil, tokens, []int{0}, nil)
	pos := embed.VariableWithShape("positions", shapes.Make(dtype, c.Context, c.Width)).ValueGraph(g)
	if t < c.Context {
		pos = graph.Slice(pos, graph.AxisRange(0, t))
	}
	x = graph.Add(x, graph.ExpandAxes(pos, 0))
	stream := []*graph.Node{x}
	for i := range c.Blocks {
		if !skip[i] {
			heads := blockHeads("models.GPT", c.Heads, c.BlockHeads, i)
			x = transformerBlock(ctx.In(fmt.Sprintf("block%d", i)), x, heads, c.Width/c.Heads, c.MLP, true, geluTanh)
		}
		stream = append(stream, x)
	}
	return stream
}

// head is the final LayerNorm and the linear layer to the next byte's logits.
func (c GPTConfig) head(ctx *context.Context, x *graph.Node) *graph.Node {
	ctx = ctx.WithInitializer(initializers.RandomNormalFn(ctx, 0.02))
	return Dense(ctx, "head", layerNorm(ctx, "final_ln", x), GPTVocabulary)
}

// NextByte is the registry's [BuildFn] for the model: the logits of the byte that follows each
// input window, [batch, 256], the last position of [GPTConfig.Build] (computed, like the head's
// other positions, so that a traced program holds the whole model). It panics as Build does.
func (c GPTConfig) NextByte(ctx *context.Context, x *graph.Node) *graph.Node {
	logits := c.Build(ctx, x)
	t := logits.Shape().Dimensions[1]
	return graph.Reshape(graph.Slice(logits, graph.AxisRange(), graph.AxisRange(t-1, t)), -1, GPTVocabulary)
}

// geluTanh is GELU in GPT-2's tanh approximation (Hendrycks & Gimpel 2016), as
// activations.GeluApproximate computes it but with x³ as x·x·x: SimpleGo computes Pow (and the
// Pow of its gradient) with math.Pow, which took a quarter of a gpt-tiny training step.
func geluTanh(x *graph.Node) *graph.Node {
	cube := graph.Mul(graph.Mul(x, x), x)
	inner := graph.MulScalar(graph.Add(x, graph.MulScalar(cube, 0.044715)), math.Sqrt(2/math.Pi))
	return graph.Mul(x, graph.MulScalar(graph.OnePlus(graph.Tanh(inner)), 0.5))
}

// causalMask is [1, 1, T, T]: 0 where the key position s <= the query position t, −1e9 above the
// diagonal, built from Iota (no stored constant).
func causalMask(g *graph.Graph, dtype dtypes.DType, t int) *graph.Node {
	query := graph.Iota(g, shapes.Make(dtypes.Int32, t, t), 0)
	key := graph.Iota(g, shapes.Make(dtypes.Int32, t, t), 1)
	mask := graph.Where(graph.LessOrEqual(key, query), graph.ScalarZero(g, dtype), graph.Scalar(g, dtype, -1e9))
	return graph.Reshape(mask, 1, 1, t, t)
}
