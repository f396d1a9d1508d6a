// Package quantize applies post-training INT8 quantization to the weights of a pruned model:
// per-channel symmetric quantization (one scale per output unit, zero maps to zero so pruned weights
// stay pruned), with each channel's clipping range calibrated on training data.
//
// A weight column w (one output unit) is stored as int8 values q = round(clamp(w/s, −127, 127)) and
// one float32 scale s = c·max|w|/127, and read back as q·s ([Tensor]). The clipping ratio c is
// chosen per channel among Config.Clips to minimize the squared error the quantization causes in
// the layer's output, Σ (x·(w − q·s))², over calibration rows x: the layer's actual inputs when the
// model runs on calibration images ([Calibrate]). Clipping a few outliers trades their error for a
// finer grid for every other weight; the calibration keeps only trades that pay on real inputs.
// Without calibration data (or for weights not used by a matrix multiplication, such as native XLA
// convolution kernels), c = 1: max-abs scaling. Biases and normalization parameters stay float32.
// Activations are not quantized: this is weight-only INT8 (W8A32), which is what storage and export
// need; the accuracy it reports is that of the dequantized weights.
//
// References: Jacob et al., "Quantization and Training of Neural Networks for Efficient
// Integer-Arithmetic-Only Inference", CVPR 2018 (symmetric per-channel scales); Krishnamoorthi,
// "Quantizing deep convolutional networks for efficient inference: A whitepaper", arXiv 1806.08342,
// 2018 (per-channel weights, calibration); Han, Mao, Dally, "Deep Compression", ICLR 2016 (prune,
// then quantize).
//
// # Hyperparameters
//
//   - Config.Clips: candidate clipping ratios (default 1, 0.98, 0.95, 0.9, 0.85, 0.8, 0.75, 0.7).
//   - Config.MaxRows: calibration rows per layer (default 2048), sampled with Config.Seed.
//   - Config.ChunkSize: calibration images per GoMLX run (default 32).
//   - Config.Select: which variables to quantize (default: every variable of rank >= 2).
//
// # Errors
//
// [NewTensor] and [Calibrate] return errors for mis-sized values, an axis out of range, or a model
// that cannot be run on the calibration data.
package quantize
