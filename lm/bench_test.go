package lm_test

import (
	"errors"
	"flag"
	"os"
	"testing"

	"github.com/prunelab/prunelab/lm"
	"github.com/prunelab/prunelab/models"
	"github.com/prunelab/prunelab/textdata"
)

var (
	benchSteps     = flag.Int("lm.steps", 2000, "BenchmarkGoSource: training steps of gpt-tiny")
	benchTestBytes = flag.Int("lm.testbytes", 0, "BenchmarkGoSource: bytes of the test split to evaluate (0: all)")
	benchEvalEvery = flag.Int("lm.evalevery", 250, "BenchmarkGoSource: steps between validation evaluations")
)

// goSource loads the Go source tree with limits, skipping the benchmark when it is not there.
func goSource(b *testing.B, max textdata.Limits) *textdata.Corpus {
	c, err := textdata.GoSource(textdata.GoSourceOptions{Max: max})
	if errors.Is(err, textdata.ErrNotFound) {
		b.Skipf("no Go source tree: %v", err)
	}
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// BenchmarkTrainStep measures one training step of gpt-tiny (batch 32, context 64, Adam) on Go
// source, the first step (graph compilation) left out: see the ms/step metric.
func BenchmarkTrainStep(b *testing.B) {
	c := goSource(b, textdata.Limits{Train: 4 << 20, Validation: 1 << 10, Test: 1 << 10})
	res, err := lm.Train(lm.Config{Train: c.Train, Steps: b.N + 1})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(res.StepTime.Microseconds())/1000, "ms/step")
	b.ReportMetric(float64(res.FirstStep.Microseconds())/1000, "ms/first-step")
}

// BenchmarkGoSource trains gpt-tiny on the Go distribution's source tree for -lm.steps steps
// (batch 32, Adam 1e-3 with 100 warm-up steps and a cosine to 1e-4, seed 1), then reports its
// test cross-entropy and the unigram baseline's on the same bytes. Run it once:
//
//	go test ./lm -run '^$' -bench GoSource -benchtime 1x -lm.steps 2000 -timeout 30m
func BenchmarkGoSource(b *testing.B) {
	c := goSource(b, textdata.Limits{})
	b.Logf("%s: %d/%d/%d bytes in %d/%d/%d files", c.Source, len(c.Train), len(c.Validation), len(c.Test),
		c.TrainFiles, c.ValidationFiles, c.TestFiles)
	test := c.Test
	if n := *benchTestBytes; n > 0 && n < len(test) {
		test = test[:n]
	}
	unigram := textdata.Unigram(c.Train)
	for range b.N {
		res, err := lm.Train(lm.Config{Model: lm.GPT("gpt-tiny", models.GPTTiny), Train: c.Train,
			Validation: c.Validation, EvalBytes: 64 << 10, Steps: *benchSteps, Warmup: 100, Cosine: true,
			EvalEvery: *benchEvalEvery, Seed: 1, Log: os.Stderr})
		if err != nil {
			b.Fatal(err)
		}
		ce, err := lm.Evaluate(res.Context, res.Model, test)
		if err != nil {
			b.Fatal(err)
		}
		b.Logf("validation: gpt-tiny %v; unigram %v", res.Final, unigram.CrossEntropy(c.Validation[1:res.Final.Bytes+1]))
		base := unigram.CrossEntropy(test[1 : ce.Bytes+1])
		b.Logf("%d steps in %v (%v/step, first %v); test: gpt-tiny %v; unigram %v", res.Steps,
			res.TrainTime.Round(1e9), res.StepTime.Round(1e6), res.FirstStep.Round(1e6), ce, base)
		b.ReportMetric(ce.BitsPerByte(), "test-bits/byte")
		b.ReportMetric(ce.Perplexity(), "test-ppl")
		b.ReportMetric(base.BitsPerByte(), "unigram-bits/byte")
		b.ReportMetric(base.Perplexity(), "unigram-ppl")
		b.ReportMetric(float64(res.StepTime.Microseconds())/1000, "ms/step")
	}
}
