// Package lm trains and evaluates byte-level language models — models.GPTConfig, the registry's
// "gpt-tiny" — with GoMLX: next-byte prediction on a [textdata.Corpus], the loss the mean softmax
// cross-entropy over every position of every window, Adam, on the process-wide backend
// ([backend.Default], with Prunelab's faster gradients and kernels on the pure-Go backend).
//
//	c, _ := textdata.GoSource(textdata.GoSourceOptions{})
//	res, err := lm.Train(lm.Config{Model: lm.GPT("gpt-tiny", models.GPTTiny),
//		Train: c.Train, Validation: c.Validation[:1<<16], Steps: 2000, Cosine: true, EvalEvery: 250})
//	test, err := lm.Evaluate(res.Context, res.Model, c.Test[:1<<18])
//	base := textdata.Unigram(c.Train).CrossEntropy(c.Test[1 : test.Bytes+1]) // the same bytes
//
// A [Model] is a context length and a GoMLX model function from byte values (float32 [batch, T],
// T <= Context) to next-byte logits [batch, T, 256]; [GPT] makes one from a models.GPTConfig, and
// a traced and pruned program.Program's Build is one too (trace GPTConfig.Build, not the
// registry's next-byte-only BuildFn).
//
// Training draws random windows of Context+1 bytes ([textdata.Windows], seeded by Config.Seed, which
// also seeds initialization: the same seed gives the same run on the same backend). [Evaluate]
// reads non-overlapping windows ([textdata.SequentialWindows]) and reports a
// [textdata.CrossEntropy]: nats and bits per byte and perplexity. Each position is scored with only
// the bytes of its own window before it, so the first positions of a window see little context:
// these numbers are a little worse than those of a sliding-window evaluation.
//
// # Hyperparameters ([Config])
//
//   - Steps (required), BatchSize (32 windows).
//   - LearningRate (Adam, 1e-3; ε 1e-8 as PyTorch), Warmup steps (linear from 0, default none),
//     Cosine decay to MinLearningRate (LearningRate/10) at the last step, WeightDecay (0;
//     GoMLX's decoupled AdamW decay).
//   - EvalEvery (0: only at the end) and EvalBytes (64 KiB of the validation text per evaluation).
//   - Seed (0 is a seed like any other).
//   - Context (a trained model's variables to fine-tune, instead of a fresh initialization) and
//     AfterStep (called after every step, e.g. to update pruning masks on a schedule).
//
// [Gradients] differentiates the loss with respect to chosen variables, e.g. the head gates whose
// gradients are Michel et al.'s head importance.
//
// # Errors
//
// [Train] returns an error for an invalid Config (naming the field), for texts too short for one
// window (wrapping [textdata.ErrTooShort]) and for a failed backend or step. [Evaluate] returns one
// for a text shorter than a window and for a failed execution.
package lm
