package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/prunelab/prunelab/internal/gomlxfix"
)

func TestMain(m *testing.M) {
	gomlxfix.Install()
	os.Exit(m.Run())
}

// pureGo is the backend these tests run on: the one the patches implementation is for, executing
// one operation at a time (GoMLX v0.26.0's SimpleGo can deadlock running independent matrix
// products in parallel; see models' TestMain).
var pureGo = sync.OnceValue(func() backends.Backend {
	b, err := simplego.New("ops_sequential")
	if err != nil {
		panic(err)
	}
	return b
})

func randomFloats[T float32 | float64](rng *rand.Rand, n int) []T {
	s := make([]T, n)
	for i := range s {
		s[i] = T(rng.NormFloat64())
	}
	return s
}

func size(dims []int) int {
	n := 1
	for _, d := range dims {
		n *= d
	}
	return n
}

// maxDiff returns the largest absolute difference between a and b, and the largest |a|.
func maxDiff[T float32 | float64](a, b []T) (diff, scale float64) {
	if len(a) != len(b) {
		return math.Inf(1), 0
	}
	for i := range a {
		diff = max(diff, math.Abs(float64(a[i])-float64(b[i])))
		scale = max(scale, math.Abs(float64(a[i])))
	}
	return diff, scale
}

// closeTo reports an error if b differs from a by more than tol relative to a's largest value.
func closeTo[T float32 | float64](t *testing.T, what string, a, b []T, tol float64) {
	t.Helper()
	if diff, scale := maxDiff(a, b); diff > tol*max(scale, 1) {
		t.Errorf("%s: differs by up to %g (largest value %g, tolerance %g)", what, diff, scale, tol)
	}
}

// flat copies every output of an execution to Go slices.
func flat[T float32 | float64](outputs []*tensors.Tensor) [][]T {
	s := make([][]T, len(outputs))
	for i, t := range outputs {
		s[i] = tensors.MustCopyFlatData[T](t)
	}
	return s
}

// mustPanic runs fn and returns the panic's message; the test fails if fn does not panic.
func mustPanic(t *testing.T, fn func()) (msg string) {
	t.Helper()
	defer func() {
		r := recover()
		if r == nil {
			t.Fatal("did not panic")
		}
		msg = fmt.Sprint(r)
	}()
	fn()
	return ""
}

// panicsWith builds fn in a graph on the pure-Go backend and checks the panic message holds every want.
func panicsWith(t *testing.T, ctx *context.Context, dims []int, fn func(ctx *context.Context, x *graph.Node) *graph.Node, want ...string) {
	t.Helper()
	msg := mustPanic(t, func() {
		exec := context.MustNewExec(pureGo(), ctx, fn)
		exec.MustExec(tensors.FromShape(shapesF32(dims)))
	})
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("panic message %q does not mention %q", msg, w)
		}
	}
}
