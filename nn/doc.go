// Package nn holds convolutional layers that train on every GoMLX backend and are fast on the pure-Go
// one: [Conv2D], [MaxPool2D] and [BatchNorm].
//
// Each creates exactly the variables of its GoMLX counterpart (layers.Convolution, layers/batchnorm;
// pooling has none), under the same scopes and names, so checkpoints and pruning masks carry over
// between backends and implementations. On XLA they call GoMLX's native operations. On the pure-Go
// backend ("go", SimpleGo), a convolution in a training graph is computed as image patches (strided
// slices stacked along a leading axis) times one matrix multiplication, so that its gradient is a
// matrix product too (the fast DotGeneral gradient of internal/gomlxfix); in graphs that do not train
// (evaluation, inference, traced programs) it is GoMLX's convolution, which internal/gomlxfix's
// fast-conv-kernel computes without materializing the patches. A max pooling whose windows tile the
// image is a reshape and one reduction. The gradients the pure-Go backend
// cannot compute with GoMLX's own rules (Slice, ConvGeneral, ReduceWindow) come from
// internal/gomlxfix, which the training driver installs; call gomlxfix.Install before building a
// graph that takes gradients on the pure-Go backend.
//
// # Hyperparameters
//
//   - [ParamImpl] ("nn_impl", string, default "auto"): which [Impl] computes convolutions and
//     pooling: "auto" (native on XLA; on the pure-Go backend patches in training graphs and native
//     convolutions elsewhere), "native" or "patches".
//
// # Errors
//
// Like GoMLX layers, the builders' Done methods are graph-building code and panic on error, with a
// message naming the layer (function and context scope) and the shapes involved: an input that is
// not a batch of channels-last images, an image smaller than the kernel or window, or an input whose
// channel count does not match the layer's existing weights.
package nn
