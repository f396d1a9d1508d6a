package distill

import (
	"fmt"
	"slices"
	"time"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/train"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"

	"github.com/prunelab/prunelab/datasets"
	"github.com/prunelab/prunelab/models"
	"github.com/prunelab/prunelab/training"
)

// Logits runs a model (build, with the variables of ctx, in inference mode) on every image of im,
// in batches of batchSize, and returns its logits row-major [im.N, classes].
func Logits(backend backends.Backend, ctx *context.Context, build models.BuildFn, im *datasets.Images,
	norm datasets.Normalization, batchSize int) ([]float32, error) {
	b, err := datasets.NewBatches(im, datasets.BatchConfig{BatchSize: batchSize, Normalization: norm})
	if err != nil {
		return nil, fmt.Errorf("distill: %w", err)
	}
	exec, err := context.NewExec(backend, ctx.Reuse(), func(ctx *context.Context, x *graph.Node) *graph.Node {
		return build(ctx, x)
	})
	if err != nil {
		return nil, err
	}
	defer exec.Finalize()
	var out []float32
	for {
		_, inputs, _, err := b.Yield()
		if err != nil {
			break
		}
		res, err := exec.Exec(inputs[0])
		if err != nil {
			return nil, fmt.Errorf("distill: computing logits: %w", err)
		}
		v, err := tensors.CopyFlatData[float32](res[0])
		res[0].FinalizeAll()
		if err != nil {
			return nil, err
		}
		out = append(out, v...)
	}
	if len(out) == 0 || len(out)%im.N != 0 {
		return nil, fmt.Errorf("distill: got %d logits for %d images", len(out), im.N)
	}
	return out, nil
}

// FineTune trains the model in the session's context for length steps with the distillation loss
// ([LossGraph]) against the teacher's logits on the training images im (row-major [im.N, classes],
// e.g. from [Logits] with the dense teacher). It follows the session's conventions (backend, batch
// size, seed, normalization, Adam with the session's learning rate and epsilon 1e-8) but uses its
// own GoMLX trainer, since the session's loss is fixed. build is the student's model function: wrap
// it with pruning.WrapModelFn so that pruned weights stay zero after every step. The session's
// optimizer state is cleared first; the session evaluates the result as usual afterwards.
func FineTune(sess *training.Session, build models.BuildFn, im *datasets.Images, teacher []float32,
	length training.Length, cfg Config) (time.Duration, error) {
	if err := cfg.Validate(); err != nil {
		return 0, err
	}
	sc := sess.Config()
	ds, err := NewBatches(im, teacher, sc.BatchSize, sc.Seed, sc.Normalization)
	if err != nil {
		return 0, err
	}
	if err := sess.ResetOptimizer(); err != nil {
		return 0, err
	}
	opt := optimizers.Adam().LearningRate(sc.LearningRate).Epsilon(1e-8).Done()
	modelFn := func(ctx *context.Context, _ any, inputs []*graph.Node) []*graph.Node {
		return []*graph.Node{build(ctx.Checked(false), inputs[0])}
	}
	trainer := train.NewTrainer(sess.Backend(), sess.Context(), modelFn, LossFn(cfg), opt, nil, nil)
	steps := length.StepsFor(im.N / sc.BatchSize)
	start := time.Now()
	if _, err := train.NewLoop(trainer).RunSteps(ds, steps); err != nil {
		return 0, fmt.Errorf("distill: fine-tuning: %w", err)
	}
	took := time.Since(start)
	// Drop the distillation optimizer's state so that the session starts clean if it trains again.
	if err := opt.Clear(sess.Context()); err != nil {
		return took, err
	}
	return took, sess.ResetOptimizer()
}

// snapshot copies the values of the context's variables outside the optimizer scope.
type snapshot map[string]*tensors.Tensor

func takeSnapshot(ctx *context.Context) (snapshot, error) {
	s := snapshot{}
	for v := range ctx.IterVariables() {
		if isOptimizerState(v.ScopeAndName()) {
			continue
		}
		t, err := v.Value()
		if err != nil {
			return nil, err
		}
		c, err := t.LocalClone()
		if err != nil {
			return nil, err
		}
		s[v.ScopeAndName()] = c
	}
	return s, nil
}

func (s snapshot) restore(ctx *context.Context) error {
	for v := range ctx.IterVariables() {
		if t, ok := s[v.ScopeAndName()]; ok {
			c, err := t.LocalClone()
			if err != nil {
				return err
			}
			if err := v.SetValue(c); err != nil {
				return err
			}
		}
	}
	return nil
}

func isOptimizerState(path string) bool {
	prefix := context.ScopeSeparator + optimizers.Scope
	return path == prefix || len(path) > len(prefix) && path[:len(prefix)+1] == prefix+context.ScopeSeparator ||
		slices.Contains([]string{"/global_step"}, path)
}
