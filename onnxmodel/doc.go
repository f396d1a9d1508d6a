// Package onnxmodel brings models from other frameworks into Prunelab through ONNX, and hands them
// back: an ONNX file (from torch.onnx.export, say) becomes a prunable GoMLX model, and a masked,
// fine-tuned or compacted model is written back as a standard ONNX file that ONNX Runtime or any
// other engine runs.
//
//	m, err := onnxmodel.Open("lenet.onnx")
//	model, err := m.ForImages([]int{28, 28, 1}, 10) // a models.Model: MNIST images in, 10 logits out
//	// ... prune and fine-tune model like any registered model (package experiment) ...
//	err = m.Write("lenet-pruned.onnx", ctx) // the same graph with the new weights, zeros included
//
// # Import
//
// The graph is converted by github.com/gomlx/onnx-gomlx (v0.3.4): its initializers become context
// variables under "/ONNX/<initializer name>" (a "/" in the name becomes "|"), and [Model.Build]
// replays the graph with GoMLX ops. The prunable weights ([Model.Layers]) are found from the graph:
// the weight operands of Conv, Gemm and MatMul nodes that are initializers, not biases or
// normalization parameters. Their layouts (Gemm's [out, in] with transB, Conv's [out, in/groups,
// k...]) are recorded in the context (pruning.ParamLayouts), so every criterion, structure,
// allocation and schedule of package pruning applies to them, and the layers keep their ONNX
// initializer names in masks and reports. [Model.ForImages] adapts the model to a data set's
// images (NHWC, as package datasets gives them): it transposes them to NCHW for a convolutional
// input and flattens them (in PyTorch's C, H, W order) for a dense one, and says what does not fit.
//
// Initializers stored as external data (the files torch.onnx.export writes for models over 2 GiB)
// are read from the model's directory.
//
// # Export
//
// [Model.Write] writes the model's graph unchanged with the values of a context's variables: a
// pruned model keeps its zeros, exactly where its masks are. [Model.WriteCompacted] writes a model
// compacted by package compact: the same graph with smaller initializers, its shape constants
// (Reshape targets) and depthwise group counts rewritten for the new widths, verified after
// writing by importing the file again and comparing its outputs with the compacted program's.
// [Model.WriteQuantized] writes INT8 weights (per output channel, symmetric) read through
// standard DequantizeLinear nodes. ONNX
// Runtime (scripts/ort) and the ONNX checker (python3-onnx) check the files in the tests.
//
// # Structured pruning
//
// [Model.PruneChannels] prunes coupled channels (residual streams together, package compact's dependency
// analysis on the traced graph) and zeroes each pruned channel's biases as well, as Torch-Pruning
// removes them, so that the masked model and the compacted one compute the same function and the
// compacted file needs no extra constants.
//
// # Hyperparameters
//
// None: [Model.ForImages] takes the data set's example shape and class count; [Model.PruneChannels]
// a sparsity and the multiple to round kept channels to (8 suits ONNX Runtime).
//
// # Errors
//
// Every error names the file (or "ONNX model" for bytes) and wraps one of: [ErrFormat] (not an
// ONNX model: a truncated or corrupt protobuf, no graph, an input that is not a float tensor),
// [ErrUnsupportedOp] (an operator onnx-gomlx v0.3.4 does not convert, named with its node),
// [ErrExternalData] (an external-data file that is missing or too short), [ErrInputShape] (a data
// set whose examples do not fit the model's input, or whose classes do not fit its output) and
// [ErrCompaction] (a compacted model the ONNX graph cannot express). Parsing never panics (a
// fuzz test holds it to that); [Model.Build] is graph-building code and panics, as GoMLX layers do.
//
// Upstream notes (onnx-gomlx v0.3.4): its Gemm conversion reads beta from the "alpha" attribute,
// so a Gemm whose alpha and beta differ is refused here rather than computed wrongly; it does not
// read external data, which this package loads into the graph before conversion; its
// DequantizeLinear does not broadcast a per-axis zero point, which [Model.WriteQuantized] therefore
// leaves out (it is optional, and 0 for symmetric quantization).
package onnxmodel
