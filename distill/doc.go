// Package distill fine-tunes a pruned student with knowledge distillation from its dense teacher
// (Hinton, Vinyals, Dean, "Distilling the Knowledge in a Neural Network", 2015), the last step of
// prune → quantize → distill, and compares it with plain fine-tuning.
//
// The loss ([LossGraph]) mixes the Kullback-Leibler divergence between the teacher's and the
// student's temperature-softened outputs, scaled by T², with the cross-entropy on the true labels.
// The training driver's Session has a fixed loss, so [FineTune] builds its own GoMLX trainer over the
// session's context, following the session's conventions (backend, batch size, seed and data
// order, normalization, Adam): the teacher's logits, computed once for every training image
// ([Logits]), ride with each batch as a second label ([Batches]), and the student's model function,
// wrapped by pruning.WrapModelFn, keeps pruned weights at zero after every step.
// [Experiment] runs the comparison over seeds (dense teacher → prune → plain fine-tuning vs
// distillation from the same pruned weights, optionally INT8 after each) and reports mean ± std.
//
// # Hyperparameters
//
//   - Config.Temperature: T (default 4).
//   - Config.Alpha: weight of the soft term, 1 − Alpha for the true labels (default 0.9).
//   - Experiment: Sparsity (0.95), Prune (global magnitude), TeacherLength (3 epochs),
//     FineTuneLength (1 epoch), Seeds (1, 2, 3), Quantize (false).
//
// # Errors
//
// [FineTune], [Logits] and [Experiment.Run] return the errors of the training driver, datasets and
// pruning packages, wrapped with the step at fault; [Config.Validate] rejects T <= 0 or Alpha outside
// [0, 1]. [LossGraph] is graph-building code and panics on mismatched shapes.
package distill
