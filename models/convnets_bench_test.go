package models_test

import (
	"os"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/prunelab/prunelab/models"
	"github.com/prunelab/prunelab/training"
)

// BenchmarkConvNets measures, for each convolutional model, one training step (batch 60, Adam, the
// training driver's step on synthetic images of the model's input shape) and one inference pass (a
// batch of 60, inference mode), on the backend backend.Default picks (GOMLX_BACKEND=go: the pure-Go
// one). Besides ns/op (the mean), it reports the median as ms/step and ms/infer, the numbers
// scripts/bench-convnets.sh compares with PyTorch's, and the process's CPU time per step or pass
// (cpu-ms/step, cpu-ms/infer), which varies less than wall time on a shared machine.
//
//	GOMLX_BACKEND=go go test -run '^$' -bench ConvNets -benchtime 20x ./models/
//	GOMLX_BACKEND=go go test -run '^$' -bench 'ConvNets/lenet-5/train' -benchtime 50x -cpuprofile cpu.out ./models/
//
// PRUNELAB_BENCH_MODELS (comma-separated names) limits the models.
func BenchmarkConvNets(b *testing.B) {
	names := []string{"lenet-5", "conv-2", "conv-4", "conv-6", "resnet-20"}
	if s := os.Getenv("PRUNELAB_BENCH_MODELS"); s != "" {
		names = splitComma(s)
	}
	for _, name := range names {
		m, err := models.ByName(name)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name+"/train", func(b *testing.B) {
			bs := newBenchSession(b, m)
			bs.steps = bs.steps[:0]
			b.ResetTimer()
			cpu := cpuTime()
			bs.last = time.Now()
			if _, err := bs.Train(training.Length{Steps: b.N}); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			b.ReportMetric(median(bs.steps), "ms/step")
			b.ReportMetric(float64(cpuTime()-cpu)/float64(time.Millisecond)/float64(b.N), "cpu-ms/step")
		})
		b.Run(name+"/infer", func(b *testing.B) {
			bs := newBenchSession(b, m)
			dims := append([]int{60}, m.InputShape...)
			x := tensors.FromShape(shapesF32(dims))
			if bs.infer == nil {
				bs.infer = context.MustNewExec(bs.Backend(), bs.Context().Reuse(), func(ctx *context.Context, x *graph.Node) *graph.Node {
					return m.Build(ctx, x)
				})
				bs.infer.MustExec(x)[0].FinalizeAll() // compile
			}
			exec := bs.infer
			var times []time.Duration
			b.ResetTimer()
			cpu := cpuTime()
			for b.Loop() {
				start := time.Now()
				exec.MustExec(x)[0].FinalizeAll()
				times = append(times, time.Since(start))
			}
			b.StopTimer()
			b.ReportMetric(median(times), "ms/infer")
			b.ReportMetric(float64(cpuTime()-cpu)/float64(time.Millisecond)/float64(len(times)), "cpu-ms/infer")
		})
	}
}

// benchSession is a training session on synthetic data that records the duration of each step.
type benchSession struct {
	*training.Session
	steps []time.Duration
	last  time.Time
	infer *context.Exec // the model in inference mode, on a batch of 60
}

// benchSessions keeps one session per model across the calls Go's benchmark harness makes (a
// first call with b.N = 1, then the measured one), so each model is built and compiled once.
var benchSessions = map[string]*benchSession{}

// newBenchSession returns the session for m, after two steps (compilation).
func newBenchSession(b *testing.B, m models.Model) *benchSession {
	b.Helper()
	if bs, ok := benchSessions[m.Name]; ok {
		return bs
	}
	s, err := training.NewSession(training.Config{Model: m, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	if err := s.SetTrainData(syntheticImages(600, m.InputShape, 1)); err != nil {
		b.Fatal(err)
	}
	if _, err := s.Train(training.Length{Steps: 2}); err != nil {
		b.Fatal(err)
	}
	bs := &benchSession{Session: s}
	s.OnStep(func(int) error {
		now := time.Now()
		bs.steps = append(bs.steps, now.Sub(bs.last))
		bs.last = now
		return nil
	})
	benchSessions[m.Name] = bs
	return bs
}

// cpuTime is the CPU time this process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func median(d []time.Duration) float64 {
	if len(d) == 0 {
		return 0
	}
	d = slices.Clone(d)
	slices.Sort(d)
	return float64(d[len(d)/2]) / float64(time.Millisecond)
}

func splitComma(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			if i > start {
				out = append(out, s[start:i])
			}
			start = i + 1
		}
	}
	return out
}
