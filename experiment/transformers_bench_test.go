package experiment

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/prunelab/prunelab/backend"
	"github.com/prunelab/prunelab/compact"
	"github.com/prunelab/prunelab/models"
	"github.com/prunelab/prunelab/program"
	"github.com/prunelab/prunelab/pruning"
)

// compactedVariant is one vit-tiny made smaller physically, for BenchmarkCompactedTransformer.
type compactedVariant struct {
	name   string
	p      *program.Program
	values map[string][]float32
}

// BenchmarkCompactedTransformer times the inference of vit-tiny (pure Go, folded program) dense and
// made smaller physically: 25% and 50% of its heads removed (RemoveHeads: 1 and 2 of each block's
// 4), 30% and 50% of its MLP neurons removed (out_channels masks on every block's mlp/up, then
// compact.Compact), and 1 and 2 of its 4 blocks removed (WithoutBlocks), at batch 1 and 60. The
// variants are timed in interleaved rounds (each round times every variant, $PRUNELAB_BENCH_ROUNDS
// rounds, default 5; 20 runs at batch 1 and 5 at batch 60 per round and variant), so that all see
// the same machine load. It logs, per variant, the MACs (compact.MACs) and their ratio to the dense
// model's, the theoretical speedup, beside the measured speedups, from the median wall time and from
// the process's CPU time per run (less disturbed by other processes on a shared machine), and
// their fraction of the theoretical one:
//
//	go test ./experiment -run '^$' -bench CompactedTransformer -benchtime 1x -v
//
// The weights are random (fixed seed): timings do not depend on their values.
func BenchmarkCompactedTransformer(b *testing.B) {
	be, err := backend.Default()
	if err != nil {
		b.Fatal(err)
	}
	variants := compactedVariants(b, be)
	rounds := 5
	if _, err := fmt.Sscan(envOr("PRUNELAB_BENCH_ROUNDS", "5"), &rounds); err != nil || rounds < 1 {
		b.Fatalf("PRUNELAB_BENCH_ROUNDS: %v", err)
	}
	type timer struct {
		run     func() error
		samples []time.Duration
		cpu     time.Duration // process CPU time (user+system) over all samples
	}
	batches := []struct{ size, runs int }{{1, 20}, {60, 5}}
	timers := make([][]*timer, len(variants)) // [variant][batch]
	for i, v := range variants {
		folded, fv, err := program.Fold(be, v.p, v.values)
		if err != nil {
			b.Fatalf("%s: %v", v.name, err)
		}
		exec, err := programExec(be, folded, fv)
		if err != nil {
			b.Fatalf("%s: %v", v.name, err)
		}
		defer exec.Finalize()
		for _, bs := range batches {
			x := tensors.FromShape(shapes.Make(dtypes.Float32, append([]int{bs.size}, folded.InputDims()...)...))
			run := func() error {
				out, err := exec.Exec(x)
				if err == nil {
					out[0].FinalizeAll()
				}
				return err
			}
			if err := run(); err != nil { // compiles
				b.Fatalf("%s: %v", v.name, err)
			}
			timers[i] = append(timers[i], &timer{run: run})
		}
	}
	b.ResetTimer()
	for range b.N {
		for range rounds {
			for i := range variants {
				for j, bs := range batches {
					tm := timers[i][j]
					cpu0 := cpuTime(b)
					for range bs.runs {
						start := time.Now()
						if err := tm.run(); err != nil {
							b.Fatal(err)
						}
						tm.samples = append(tm.samples, time.Since(start))
					}
					tm.cpu += cpuTime(b) - cpu0
				}
			}
		}
	}
	b.StopTimer()
	median := func(d []time.Duration) time.Duration {
		d = slices.Clone(d)
		slices.Sort(d)
		return d[len(d)/2]
	}
	dense := compact.MACs(variants[0].p)
	var table strings.Builder
	table.WriteString("\n| vit-tiny | MACs | theoretical |")
	for _, bs := range batches {
		fmt.Fprintf(&table, " batch %d: ms | wall speedup (of theoretical) | CPU speedup (of theoretical) |", bs.size)
	}
	table.WriteString("\n|---|---|---|---|---|---|---|---|---|\n")
	var wall0, cpu0 [2]float64
	for i, v := range variants {
		macs := compact.MACs(v.p)
		theory := float64(dense) / float64(macs)
		fmt.Fprintf(&table, "| %s | %d | %.2fx |", v.name, macs, theory)
		for j := range batches {
			tm := timers[i][j]
			wall, cpu := median(tm.samples).Seconds(), tm.cpu.Seconds()/float64(len(tm.samples))
			if i == 0 {
				wall0[j], cpu0[j] = wall, cpu
			}
			ws, cs := wall0[j]/wall, cpu0[j]/cpu
			fmt.Fprintf(&table, " %.2f | %.2fx (%.2f) | %.2fx (%.2f) |", 1000*wall, ws, ws/theory, cs, cs/theory)
			if i > 0 {
				name := strings.NewReplacer(" ", "_", "%", "pct").Replace(v.name)
				b.ReportMetric(ws/theory, fmt.Sprintf("%s-b%d-wall/theory", name, batches[j].size))
				b.ReportMetric(cs/theory, fmt.Sprintf("%s-b%d-cpu/theory", name, batches[j].size))
			}
		}
		table.WriteString("\n")
	}
	b.Logf("%d rounds; wall: median of %d (batch 1) and %d (batch 60) runs per variant; CPU: process user+system "+
		"time per run:%s", rounds, rounds*batches[0].runs, rounds*batches[1].runs, table.String())
}

// compactedVariants builds vit-tiny (random weights, seed 1) and its physically smaller variants
// (see BenchmarkCompactedTransformer), each checked against the masked model it comes from.
func compactedVariants(b *testing.B, be backends.Backend) []compactedVariant {
	cfg := models.ViTTiny
	input := shapes.Make(dtypes.Float32, 28, 28, 1)
	ctx := context.New()
	ctx.SetParam(context.ParamInitialSeed, int64(1))
	mlpUp := pruning.Selector{Include: []string{"/block*/mlp/up/dense/weights"}}
	masked := pruning.WrapModelFn(pruning.ModelFn(cfg.Build), mlpUp)
	init, err := context.NewExec(be, ctx, func(ctx *context.Context, x *graph.Node) *graph.Node { return masked(ctx, x) })
	if err != nil {
		b.Fatal(err)
	}
	if _, err := init.Exec(tensors.FromShape(shapes.Make(dtypes.Float32, 1, 28, 28, 1))); err != nil { // initializes
		b.Fatal(err)
	}
	init.Finalize()
	p, values, err := traceValues(be, ctx, cfg.Build, input)
	if err != nil {
		b.Fatal(err)
	}
	out := []compactedVariant{{"dense", p, values}}

	for _, perBlock := range []int{1, 2} {
		var heads []HeadRef
		for blk := range cfg.Blocks {
			for h := range perBlock {
				heads = append(heads, HeadRef{fmt.Sprintf("/block%d/attn/%s", blk, models.HeadGates), h})
			}
		}
		small, kept, err := RemoveHeads(values, heads, cfg.Blocks, cfg.Heads, cfg.Width/cfg.Heads)
		if err != nil {
			b.Fatal(err)
		}
		c := cfg
		c.BlockHeads = kept
		sp, err := program.Trace(be, context.New(), c.Build, input)
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, compactedVariant{fmt.Sprintf("%d%% heads removed", 100*perBlock/cfg.Heads), sp, small})
	}

	for _, s := range []float64{0.3, 0.5} {
		mctx, err := ctx.Clone() // masks and weights of its own
		if err != nil {
			b.Fatal(err)
		}
		if _, err := pruning.PruneOnce(mctx, pruning.Config{Structure: pruning.OutputChannels{},
			Allocation: pruning.LayerWise{}}, pruning.Sparsity(s)); err != nil {
			b.Fatal(err)
		}
		mp, mv, err := traceValues(be, mctx, cfg.Build, input)
		if err != nil {
			b.Fatal(err)
		}
		res, err := compact.Compact(be, mp, mv, compact.Options{}) // verifies against the masked model
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, compactedVariant{fmt.Sprintf("%d%% MLP neurons removed", int(100*s)), res.Program, res.Values})
	}

	for _, n := range []int{1, 2} {
		blocks := make([]int, n)
		for i := range blocks {
			blocks[i] = cfg.Blocks - 1 - i
		}
		bp, bv, err := traceValues(be, ctx, cfg.WithoutBlocks(blocks...), input)
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, compactedVariant{fmt.Sprintf("%d of %d blocks removed", n, cfg.Blocks), bp, bv})
	}
	return out
}

// traceValues traces build with ctx's variables and returns the program and its values.
func traceValues(be backends.Backend, ctx *context.Context, build models.BuildFn, input shapes.Shape) (
	*program.Program, map[string][]float32, error) {
	p, err := program.Trace(be, ctx, program.ModelFn(build), input)
	if err != nil {
		return nil, nil, err
	}
	values, err := p.Values(ctx)
	return p, values, err
}
