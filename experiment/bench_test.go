package experiment

import (
	"fmt"
	"math"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/prunelab/prunelab/models"
	"github.com/prunelab/prunelab/pruning"
	"github.com/prunelab/prunelab/training"
)

// BenchmarkMaskedTraining measures what masks cost when training LeNet-300-100 on MNIST (Adam
// 1.2e-3, batch 60) with the training driver: a dense session and a masked one (80% of the
// weights pruned by global magnitude, masks re-applied after every optimizer step) train in
// alternating blocks of $PRUNELAB_BENCH_BLOCK (default "100it"; "1ep" for whole epochs), one
// block each per iteration, so that both see the same machine load. It reports the training
// (wall) time per step of each and masked/dense, the ratio of their total times, and
// masked/dense-cpu, the ratio of the process's CPU time (user+system) spent in their blocks,
// which other processes on a shared machine disturb less. Compilation is done before timing.
// scripts/bench-masked-training.sh runs it with epochs.
func BenchmarkMaskedTraining(b *testing.B) {
	block, err := training.ParseLength(envOr("PRUNELAB_BENCH_BLOCK", "100it"))
	if err != nil {
		b.Fatal(err)
	}
	split, err := LoadData(DataOptions{Dataset: "mnist", Validation: 5000, Seed: 1})
	if err != nil {
		b.Skipf("MNIST: %v", err)
	}
	m, err := models.ByName("lenet-300-100")
	if err != nil {
		b.Fatal(err)
	}
	newSession := func(masked bool) *training.Session {
		sess, err := training.NewSession(training.Config{Model: m, Seed: 1})
		if err != nil {
			b.Fatal(err)
		}
		if err := sess.SetTrainData(split.Train); err != nil {
			b.Fatal(err)
		}
		if masked {
			sess.SetModel(models.BuildFn(pruning.WrapModelFn(pruning.ModelFn(m.Build), pruning.Selector{})))
			if _, err := sess.Evaluate(split.Validation.Subset(100)); err != nil { // creates the masks
				b.Fatal(err)
			}
			if _, err := pruning.PruneOnce(sess.Context(), pruning.Config{Allocation: pruning.Global{}},
				pruning.Sparsity(0.8)); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := sess.Train(training.Length{Steps: 20}); err != nil { // compile, warm up
			b.Fatal(err)
		}
		return sess
	}
	dense, masked := newSession(false), newSession(true)
	var denseTime, maskedTime, denseCPU, maskedCPU time.Duration
	steps := 0
	b.ResetTimer()
	for i := range b.N {
		// Alternate which goes first, so neither always follows the other's garbage.
		order := []*training.Session{dense, masked}
		if i%2 == 1 {
			order = []*training.Session{masked, dense}
		}
		for _, s := range order {
			cpu0 := cpuTime(b)
			res, err := s.Train(block)
			if err != nil {
				b.Fatal(err)
			}
			cpu := cpuTime(b) - cpu0
			if s == dense {
				denseTime += res.TrainDuration
				denseCPU += cpu
			} else {
				maskedTime += res.TrainDuration
				maskedCPU += cpu
			}
			steps = res.Steps
		}
	}
	b.StopTimer()
	if _, nonZero, err := pruning.PrunedNonZero(masked.Context()); err != nil || nonZero != 0 {
		b.Fatalf("masked weights non-zero after training: %d (%v)", nonZero, err)
	}
	n := float64(b.N * steps)
	b.ReportMetric(float64(denseTime.Milliseconds())/n, "dense-ms/step")
	b.ReportMetric(float64(maskedTime.Milliseconds())/n, "masked-ms/step")
	b.ReportMetric(maskedTime.Seconds()/denseTime.Seconds(), "masked/dense")
	b.ReportMetric(maskedCPU.Seconds()/denseCPU.Seconds(), "masked/dense-cpu")
}

// cpuTime returns the CPU time (user and system) this process has used.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// BenchmarkHeadsRemoved is Michel et al.'s curve for a trained vit-tiny: test accuracy as the heads
// of lowest importance (expected |∂loss/∂gate| over 10 training batches) are masked, 0 to 12 of the
// 16, against the same numbers of heads masked in random orders (mean ± std over 5). The dense run comes from
// $PRUNELAB_BENCH_VIT_RUN (a "prunelab train -model vit-tiny" run directory):
//
//	PRUNELAB_BENCH_VIT_RUN=runs/train-vit-tiny-<hash> go test ./experiment -run '^$' -bench HeadsRemoved -benchtime 1x -v
func BenchmarkHeadsRemoved(b *testing.B) {
	dir := os.Getenv("PRUNELAB_BENCH_VIT_RUN")
	if dir == "" {
		b.Skip("set PRUNELAB_BENCH_VIT_RUN to a vit-tiny train run directory")
	}
	for range b.N {
		d, err := OpenDense(DenseOptions{From: dir, TestLimit: 2000})
		if err != nil {
			b.Fatal(err)
		}
		scores, err := HeadImportance(d.Session, d.Model, d.Data.Train, 10)
		if err != nil {
			b.Fatal(err)
		}
		for _, l := range scores.Layers() {
			b.Logf("%s importance %.3f", l, scores[l])
		}
		all, err := LeastImportantHeads(scores, 12)
		if err != nil {
			b.Fatal(err)
		}
		line := ""
		for n := 0; n <= 12; n += 2 {
			acc := func(masked []HeadRef) float64 {
				if err := MaskHeads(d.Session.Context(), masked); err != nil {
					b.Fatal(err)
				}
				m, err := d.Session.Evaluate(d.Data.Test)
				if err != nil {
					b.Fatal(err)
				}
				return 100 * m.Accuracy
			}
			var random []float64
			for seed := uint64(1); seed <= 5; seed++ {
				random = append(random, acc(RandomHeadOrder(scores, seed)[:n]))
			}
			m, sd := meanStd(random)
			line += fmt.Sprintf("\n  %2d of 16 heads masked: by importance %.2f%%, random %.2f ± %.2f%% (5 orders)", n,
				acc(all[:n]), m, sd)
		}
		b.Logf("test accuracy (first 2,000 images):%s", line)
	}
}

// meanStd returns the mean and the sample standard deviation of x.
func meanStd(x []float64) (float64, float64) {
	m, v := 0.0, 0.0
	for _, a := range x {
		m += a / float64(len(x))
	}
	for _, a := range x {
		v += (a - m) * (a - m) / float64(len(x)-1)
	}
	return m, math.Sqrt(v)
}
