// Package models is Prunelab's registry of model builders: GoMLX model functions by name, each
// documented with its paper, input shape and parameter count.
//
// A model is a plain GoMLX function from a batch of inputs to logits ([BuildFn]); it creates its
// variables with GoMLX layers under one sub-scope per layer (e.g. "/fc0/dense/weights"), so
// checkpoints, pruning masks and reports name layers the same way everywhere.
//
// Registered now:
//
//   - "lenet-300-100": LeNet-300-100 (LeCun et al. 1998; the Lottery Ticket setup of Frankle & Carbin
//     2019): 784→300→100→10, ReLU, Glorot normal init; 266,610 parameters, 266,200 of them weights.
//   - "lenet-5": LeNet-5 (LeCun et al. 1998) for MNIST with ReLU and max pooling: conv 6@5×5 (padding
//     same), pool, conv 16@5×5, pool, fc 120, 84, 10; 61,706 parameters, 61,470 weights.
//   - "conv-2", "conv-4", "conv-6": the Lottery Ticket paper's CIFAR-10 networks (Frankle & Carbin
//     2019, Figure 2): 3×3 convolutions 64, 64, pool [, 128, 128, pool [, 256, 256, pool]], fc 256,
//     256, 10, Glorot normal; 4,301,642 / 2,425,930 / 2,262,602 parameters (4,300,992 / 2,425,024 /
//     2,261,184 weights; the paper rounds to 4.3M, 2.4M and, for Conv-6, lists 1.7M).
//   - "resnet-20": ResNet-20 for CIFAR-10 (He et al. 2016), batch norm, option-A shortcuts, He normal
//     init; 269,722 trainable parameters, 268,336 weights.
//   - "vit-tiny": a Vision Transformer (Dosovitskiy et al. 2021) for 28×28×1 images: patch 4, width
//     64, 4 heads, MLP 128, 4 pre-LayerNorm blocks, mean pooling ([ViTConfig]); 138,890 parameters,
//     132,736 weights. Heads are contiguous slices of q, k, v's outputs and out's inputs. Its
//     transformer blocks (gpt-tiny's too) carry non-trainable gates, all ones, not counted among
//     the parameters: [HeadGates] on each head's output and [BlockGate] on each block's residual
//     branches; a gate at 0 masks its head or block, which is how heads and blocks are pruned.
//   - "gpt-tiny": a byte-level causal GPT (Radford et al. 2019) for Go source ([GPTConfig]): context
//     64, width 64, 4 heads, MLP 256, 2 blocks; 137,216 parameters, 114,688 weights. The registry's
//     Build gives the next byte's logits; [GPTConfig.Build] every position's, which package lm
//     trains (the classification driver does not).
//
// The convolutional models build their layers with package nn, which computes them with GoMLX's
// native operations on XLA and as patches × matmul on the pure-Go backend, with the same variables.
//
// Errors: [ByName] returns an error wrapping [ErrUnknown] that lists the known names.
package models
