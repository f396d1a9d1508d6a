package models_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"

	"github.com/prunelab/prunelab/backend"
	"github.com/prunelab/prunelab/datasets"
)

func TestMain(m *testing.M) {
	if os.Getenv(backend.EnvBackend) == "" {
		// Tests and benchmarks run on the pure-Go backend (backend.PureGo) unless told otherwise, executing one
		// operation at a time: GoMLX v0.26.0's SimpleGo, when it runs independent operations in
		// parallel (its default), can deadlock on graphs with several independent matrix products
		// (each waits, holding one of its 2×NumCPU workers, for workers to start its own tasks).
		// The backward pass of LeNet-5 has enough of them to hang within a few steps on 2 cores.
		os.Setenv(backend.EnvBackend, backend.PureGo)
	}
	os.Exit(m.Run())
}

func shapesF32(dims []int) shapes.Shape { return shapes.Make(dtypes.Float32, dims...) }

// syntheticImages returns n labelled images of the given [height, width, channels] that a
// convolutional network can learn quickly: dim noise, plus a bright 6×6 square whose position (one
// of ten places) and channel give the label.
func syntheticImages(n int, shape []int, seed uint64) *datasets.Images {
	h, w, c := shape[0], shape[1], shape[2]
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	im := &datasets.Images{Name: "synthetic", N: n, Height: h, Width: w, Channels: c, NumClasses: 10,
		Pixels: make([]uint8, n*h*w*c), Labels: make([]uint8, n)}
	for i := range n {
		label := rng.IntN(10)
		im.Labels[i] = uint8(label)
		img := im.Image(i)
		for j := range img {
			img[j] = uint8(rng.IntN(64))
		}
		top, left := 2+(label/5)*(h/2), 2+(label%5)*((w-8)/4)
		channel := label % c
		for y := top; y < top+6 && y < h; y++ {
			for x := left; x < left+6 && x < w; x++ {
				img[(y*w+x)*c+channel] = uint8(192 + rng.IntN(64))
			}
		}
	}
	return im
}

// pureGoBackend returns GoMLX's pure-Go backend with Prunelab's kernels.
func pureGoBackend(t testing.TB) backends.Backend {
	t.Helper()
	b, err := backend.NewPureGo()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Finalize)
	return b
}

// recoverString turns a recovered panic value into its message.
func recoverString(r any) (string, bool) {
	if r == nil {
		return "", false
	}
	return fmt.Sprint(r), true
}
