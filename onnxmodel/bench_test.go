package onnxmodel_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/prunelab/prunelab/internal/gomlxfix"
	"github.com/prunelab/prunelab/onnxmodel"
	"github.com/prunelab/prunelab/program"
)

// BenchmarkInference times Prunelab's pure-Go inference (the program folded for inference:
// channels-first convolutions rewritten channels-last for the fast kernel) of the ONNX files in
// $PRUNELAB_ONNX_BENCH (scripts/bench-onnx.sh writes them: dense and compacted ResNets), at batch
// 1: images of the model's own fixed size (a ViT's 1×28×28), else 3 × $PRUNELAB_ONNX_BENCH_SIZE²
// (default 224).
func BenchmarkInference(b *testing.B) {
	dir := os.Getenv("PRUNELAB_ONNX_BENCH")
	if dir == "" {
		b.Skip("PRUNELAB_ONNX_BENCH names the directory of ONNX files to time (scripts/bench-onnx.sh)")
	}
	size := 224
	if s := os.Getenv("PRUNELAB_ONNX_BENCH_SIZE"); s != "" {
		fmt.Sscan(s, &size)
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.onnx"))
	if err != nil || len(files) == 0 {
		b.Fatalf("no ONNX files in %s (%v)", dir, err)
	}
	gomlxfix.Install()
	be := testBackend(b)
	for _, f := range files {
		b.Run(filepath.Base(f), func(b *testing.B) {
			m, err := onnxmodel.Open(f)
			if err != nil {
				b.Fatal(err)
			}
			example := []int{3, size, size}
			if d := m.Input.Dims; len(d) > 1 && !slices.ContainsFunc(d[1:], func(x int) bool { return x <= 0 }) {
				example = slices.Clone(d[1:])
			}
			ctx := context.New()
			p, err := m.Trace(be, ctx, example)
			if err != nil {
				b.Fatal(err)
			}
			values, err := p.Values(ctx)
			if err != nil {
				b.Fatal(err)
			}
			fp, fv, err := program.Fold(be, p, values)
			if err != nil {
				b.Fatal(err)
			}
			fctx, err := fp.NewContext(fv)
			if err != nil {
				b.Fatal(err)
			}
			exec, err := fp.NewExec(be, fctx)
			if err != nil {
				b.Fatal(err)
			}
			x := tensors.FromShape(shapes.Make(dtypes.Float32, append([]int{1}, example...)...))
			exec.MustExec(x) // compiles
			b.ResetTimer()
			for b.Loop() {
				exec.MustExec(x)[0].FinalizeAll()
			}
		})
	}
}
