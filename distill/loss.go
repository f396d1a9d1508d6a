package distill

import (
	"fmt"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/train/losses"
)

// Config holds the distillation hyperparameters. The zero value means the defaults.
type Config struct {
	// Temperature T softens both distributions (default 4).
	Temperature float64
	// Alpha weighs the soft-target term; the true-label cross-entropy gets 1 − Alpha (default 0.9:
	// a zero Alpha means the default; plain fine-tuning is the training driver's own loss).
	Alpha float64
}

func (c Config) withDefaults() Config {
	if c.Temperature == 0 {
		c.Temperature = 4
	}
	if c.Alpha == 0 {
		c.Alpha = 0.9
	}
	return c
}

// Validate checks the ranges: Temperature > 0 and Alpha in [0, 1] (after defaults).
func (c Config) Validate() error {
	c = c.withDefaults()
	if !(c.Temperature > 0) || !(c.Alpha >= 0 && c.Alpha <= 1) {
		return fmt.Errorf("distill: temperature %g must be > 0 and alpha %g in [0, 1]", c.Temperature, c.Alpha)
	}
	return nil
}

// LossGraph is the knowledge-distillation loss of Hinton, Vinyals and Dean, "Distilling the
// Knowledge in a Neural Network" (2015): the mean over the batch of
//
//	Alpha · T² · KL(softmax(teacher/T) ‖ softmax(student/T)) + (1 − Alpha) · CE(labels, student)
//
// where labels are class indices shaped [batch, 1] (int) and the logits [batch, classes]. The T²
// factor keeps the soft term's gradients on the scale of the hard term's as T changes (Hinton et
// al., Section 2). It is graph-building code and panics on shape mismatches.
func LossGraph(student, teacher, labels *graph.Node, cfg Config) *graph.Node {
	cfg = cfg.withDefaults()
	if !student.Shape().Equal(teacher.Shape()) {
		panic(fmt.Sprintf("distill: student logits %s and teacher logits %s differ", student.Shape(), teacher.Shape()))
	}
	t := cfg.Temperature
	logPs := graph.LogSoftmax(graph.DivScalar(student, t), -1)
	logPt := graph.LogSoftmax(graph.DivScalar(graph.StopGradient(teacher), t), -1)
	kl := graph.ReduceSum(graph.Mul(graph.Exp(logPt), graph.Sub(logPt, logPs)), -1)
	soft := graph.MulScalar(graph.ReduceAllMean(kl), t*t)
	hard := graph.ReduceAllMean(losses.SparseCategoricalCrossEntropyLogits([]*graph.Node{labels}, []*graph.Node{student}))
	return graph.Add(graph.MulScalar(soft, cfg.Alpha), graph.MulScalar(hard, 1-cfg.Alpha))
}

// LossFn returns a train.LossFn (labels [classes, teacherLogits], predictions [studentLogits]) for
// a train.Trainer whose dataset yields the teacher's logits as a second label ([Batches]).
func LossFn(cfg Config) losses.LossFn {
	return func(labels, predictions []*graph.Node) *graph.Node {
		if len(labels) != 2 || len(predictions) != 1 {
			panic(fmt.Sprintf("distill: the loss takes labels [classes, teacher logits] and one prediction, got %d labels "+
				"and %d predictions", len(labels), len(predictions)))
		}
		return LossGraph(predictions[0], labels[1], labels[0], cfg)
	}
}
