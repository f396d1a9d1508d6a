package compact_test

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/prunelab/prunelab/compact"
	"github.com/prunelab/prunelab/models"
	"github.com/prunelab/prunelab/program"
	"github.com/prunelab/prunelab/pruning"
)

// BenchmarkCompacted measures inference of compacted models against the masked originals, on the
// backend GOMLX_BACKEND selects (the pure-Go one by default in tests): each model is group-pruned
// (GroupMasks) at 50% and 70% of its channels and compacted; both programs are folded
// (program.Fold); every iteration runs the original and the compacted program once each on the
// same batch, alternately, so machine load affects both.
// Metrics: speedup (median original time / median compacted time), theoretical (MACs ratio) and
// efficiency (speedup / theoretical; the issue asks for >= 0.8).
//
//	GOMLX_BACKEND=go go test -run '^$' -bench Compacted -benchtime 20x ./compact/
//
// PRUNELAB_BENCH_MODELS (comma-separated) limits the models; PRUNELAB_BENCH_BATCHES the batch sizes.
func BenchmarkCompacted(b *testing.B) {
	names := []string{"lenet-300-100", "lenet-5", "conv-4", "resnet-20"}
	if s := os.Getenv("PRUNELAB_BENCH_MODELS"); s != "" {
		names = strings.Split(s, ",")
	}
	batches := []int{1, 256}
	if s := os.Getenv("PRUNELAB_BENCH_BATCHES"); s != "" {
		batches = nil
		for _, f := range strings.Split(s, ",") {
			var n int
			fmt.Sscan(f, &n)
			batches = append(batches, n)
		}
	}
	backend := goBackend(b)
	for _, name := range names {
		m, err := models.ByName(name)
		if err != nil {
			b.Fatal(err)
		}
		for _, sparsity := range []float64{0.5, 0.7} {
			ctx := maskedModel(b, backend, m)
			p, values := trace(b, backend, ctx, m)
			masks, err := compact.GroupMasks(p, values, sparsity)
			if err != nil {
				b.Fatal(err)
			}
			if err := pruning.SetMasks(ctx, masks); err != nil {
				b.Fatal(err)
			}
			p, values = trace(b, backend, ctx, m)
			res, err := compact.Compact(backend, p, values, compact.Options{})
			if err != nil {
				b.Fatal(err)
			}
			// Both run with their input-independent ops computed once (program.Fold): the masked
			// model's weight·mask products and batch-norm factors, the compacted model's compensation
			// terms.
			orig, err := foldedExec(backend, p, values)
			if err != nil {
				b.Fatal(err)
			}
			comp, err := foldedExec(backend, res.Program, res.Values)
			if err != nil {
				b.Fatal(err)
			}
			for _, batch := range batches {
				b.Run(fmt.Sprintf("%s/sparsity=%.1f/batch=%d", name, sparsity, batch), func(b *testing.B) {
					x := randomBatch(batch, m.InputShape, 7)
					runOnce := func(e *context.Exec) time.Duration {
						start := time.Now()
						out := e.MustExec(x)
						out[0].FinalizeAll()
						return time.Since(start)
					}
					runOnce(orig) // compile
					runOnce(comp)
					var to, tc []time.Duration
					for b.Loop() {
						to = append(to, runOnce(orig))
						tc = append(tc, runOnce(comp))
					}
					speedup := float64(median(to)) / float64(median(tc))
					b.ReportMetric(float64(median(to).Microseconds()), "us/original")
					b.ReportMetric(float64(median(tc).Microseconds()), "us/compacted")
					b.ReportMetric(speedup, "speedup")
					b.ReportMetric(res.Report.Speedup, "theoretical")
					b.ReportMetric(speedup/res.Report.Speedup, "efficiency")
				})
			}
		}
	}
}

// foldedExec folds p (program.Fold) and compiles it.
func foldedExec(backend backends.Backend, p *program.Program, values map[string][]float32) (*context.Exec, error) {
	p, values, err := program.Fold(backend, p, values)
	if err != nil {
		return nil, err
	}
	ctx, err := p.NewContext(values)
	if err != nil {
		return nil, err
	}
	return p.NewExec(backend, ctx)
}

func median(d []time.Duration) time.Duration {
	d = slices.Clone(d)
	slices.Sort(d)
	return d[len(d)/2]
}
