package lm_test

import (
	"flag"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/prunelab/prunelab/backend"
	"github.com/prunelab/prunelab/lm"
	"github.com/prunelab/prunelab/models"
	"github.com/prunelab/prunelab/oneshot"
	"github.com/prunelab/prunelab/program"
	"github.com/prunelab/prunelab/textdata"
)

var benchCalibration = flag.Int("lm.calibration", 128, "BenchmarkOneShot: calibration windows")

// calibrationWindows draws n random windows of the model's context from text (seeded), as the
// float32 byte values [n, context] the model reads.
func calibrationWindows(b *testing.B, text []byte, context, n int, seed uint64) *tensors.Tensor {
	w, err := textdata.NewWindows(text, context, seed)
	if err != nil {
		b.Fatal(err)
	}
	return lm.Inputs(w.Next(n), context)
}

// BenchmarkOneShot trains gpt-tiny on Go source for -lm.steps steps, then prunes the linear layers
// of its blocks (not the embedding, not the head) in one shot, without fine-tuning, with magnitude
// (per output), Wanda and SparseGPT at 50% unstructured and 2:4, from -lm.calibration windows of
// the training split drawn with seeds 1, 2, 3, and logs the test bits per byte and perplexity
// (first -lm.testbytes bytes of the test split) of each, mean ± std over the seeds:
//
//	go test ./lm -run '^$' -bench OneShot -benchtime 1x -lm.steps 1000 -lm.testbytes 262144 -timeout 30m
func BenchmarkOneShot(b *testing.B) {
	c := goSource(b, textdata.Limits{})
	test := c.Test
	if n := *benchTestBytes; n > 0 && n < len(test) {
		test = test[:n]
	}
	cfg := models.GPTTiny
	for range b.N {
		res, err := lm.Train(lm.Config{Model: lm.GPT("gpt-tiny", cfg), Train: c.Train, Steps: *benchSteps, Warmup: 100,
			Cosine: true, Seed: 1})
		if err != nil {
			b.Fatal(err)
		}
		bk := backend.MustDefault()
		p, err := program.Trace(bk, res.Context, cfg.Build, shapes.Make(dtypes.Float32, cfg.Context))
		if err != nil {
			b.Fatal(err)
		}
		values, err := p.Values(res.Context)
		if err != nil {
			b.Fatal(err)
		}
		eval := func(values map[string][]float32) textdata.CrossEntropy {
			ctx, err := p.NewContext(values)
			if err != nil {
				b.Fatal(err)
			}
			ce, err := lm.Evaluate(ctx, lm.Model{Name: "pruned", Context: cfg.Context, Build: p.Build}, test)
			if err != nil {
				b.Fatal(err)
			}
			return ce
		}
		dense := eval(values)
		unigram := textdata.Unigram(c.Train).CrossEntropy(test[1 : dense.Bytes+1])
		b.Logf("gpt-tiny after %d steps: test %.3f bits/byte (perplexity %.2f); unigram %.3f (%.2f)", res.Steps,
			dense.BitsPerByte(), dense.Perplexity(), unigram.BitsPerByte(), unigram.Perplexity())
		skip := func(path string) bool { return strings.HasPrefix(path, "/embed/") || strings.HasPrefix(path, "/head/") }
		for _, pattern := range []oneshot.Pattern{oneshot.Unstructured(0.5), oneshot.NM(2, 4)} {
			for _, method := range oneshot.Methods {
				var bits, ppl, secs []float64
				for seed := uint64(1); seed <= 3; seed++ {
					calib := calibrationWindows(b, c.Train, cfg.Context, *benchCalibration, seed)
					start := time.Now()
					pruned, _, _, err := oneshot.PruneProgram(bk, p, values, calib, oneshot.ProgramOptions{Method: method,
						Pattern: pattern, Skip: skip})
					if err != nil {
						b.Fatal(err)
					}
					secs = append(secs, time.Since(start).Seconds())
					ce := eval(pruned)
					bits, ppl = append(bits, ce.BitsPerByte()), append(ppl, ce.Perplexity())
				}
				b.Logf("%-4s %-9s test bits/byte %s, perplexity %s; %.1f s to calibrate and prune", pattern, method,
					meanStd(bits), meanStd(ppl), mean(secs))
			}
		}
	}
}

// BenchmarkSparseGPTWidth times SparseGPT calibration and pruning (50%) of untrained GPTs of growing
// width (2 blocks, MLP 4×width) from 128 windows of Go source: how the one-shot cost grows.
//
//	go test ./lm -run '^$' -bench SparseGPTWidth -benchtime 1x
func BenchmarkSparseGPTWidth(b *testing.B) {
	c := goSource(b, textdata.Limits{Train: 1 << 20, Validation: 1 << 10, Test: 1 << 10})
	for _, width := range []int{64, 128, 256} {
		b.Run(fmt.Sprintf("width=%d", width), func(b *testing.B) {
			cfg := models.GPTConfig{Context: 64, Width: width, Heads: 4, MLP: 4 * width, Blocks: 2}
			res, err := lm.Train(lm.Config{Model: lm.GPT("gpt", cfg), Train: c.Train, Steps: 1, Seed: 1})
			if err != nil {
				b.Fatal(err)
			}
			bk := backend.MustDefault()
			p, err := program.Trace(bk, res.Context, cfg.Build, shapes.Make(dtypes.Float32, cfg.Context))
			if err != nil {
				b.Fatal(err)
			}
			values, err := p.Values(res.Context)
			if err != nil {
				b.Fatal(err)
			}
			calib := calibrationWindows(b, c.Train, cfg.Context, 128, 1)
			b.ResetTimer()
			for range b.N {
				if _, _, _, err := oneshot.PruneProgram(bk, p, values, calib, oneshot.ProgramOptions{Method: "sparsegpt",
					Pattern: oneshot.Unstructured(0.5)}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func mean(x []float64) float64 {
	s := 0.0
	for _, v := range x {
		s += v
	}
	return s / float64(len(x))
}

func meanStd(x []float64) string {
	m, v := mean(x), 0.0
	for _, a := range x {
		v += (a - m) * (a - m)
	}
	return fmt.Sprintf("%.3f ± %.3f", m, math.Sqrt(v/float64(len(x)-1)))
}
