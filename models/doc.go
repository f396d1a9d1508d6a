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
//
// Errors: [ByName] returns an error wrapping [ErrUnknown] that lists the known names.
package models
