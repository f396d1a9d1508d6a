package datasets

import (
	"errors"
	"io"
	"slices"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/google/go-cmp/cmp"
)

// toyImages returns n images of h×w×c; every byte of image i is i (mod 256), label i%10.
func toyImages(n, h, w, c int) *Images {
	im := &Images{Name: "toy", N: n, Height: h, Width: w, Channels: c, NumClasses: 10,
		Pixels: make([]uint8, n*h*w*c), Labels: make([]uint8, n)}
	for i := range n {
		for j := range h * w * c {
			im.Pixels[i*h*w*c+j] = uint8(i)
		}
		im.Labels[i] = uint8(i % 10)
	}
	return im
}

// batch is one yielded batch, copied out of its tensors.
type batch struct {
	dims   []int
	images []float32
	labels []int32
}

func yield(t *testing.T, b *Batches) (batch, error) {
	t.Helper()
	spec, inputs, labels, err := b.Yield()
	if err != nil {
		return batch{}, err
	}
	if spec != nil || len(inputs) != 1 || len(labels) != 1 {
		t.Fatalf("Yield returned spec %v, %d inputs, %d labels; want nil, 1, 1", spec, len(inputs), len(labels))
	}
	x, y := inputs[0], labels[0]
	if x.DType() != dtypes.Float32 || y.DType() != dtypes.Int32 {
		t.Fatalf("dtypes %s, %s; want float32, int32", x.DType(), y.DType())
	}
	if y.Rank() != 2 || y.Shape().Dimensions[1] != 1 || y.Shape().Dimensions[0] != x.Shape().Dimensions[0] {
		t.Fatalf("labels shape %s, want [%d, 1]", y.Shape(), x.Shape().Dimensions[0])
	}
	out := batch{dims: x.Shape().Dimensions, images: tensors.MustCopyFlatData[float32](x), labels: tensors.MustCopyFlatData[int32](y)}
	x.FinalizeAll()
	y.FinalizeAll()
	return out, nil
}

// epochIndices yields until io.EOF and returns the image index of every image seen (toyImages
// makes the first pixel of image i equal i/255 when scaled to [0,1]).
func epochIndices(t *testing.T, b *Batches) (indices []int, sizes []int) {
	t.Helper()
	for {
		bt, err := yield(t, b)
		if errors.Is(err, io.EOF) {
			return indices, sizes
		}
		if err != nil {
			t.Fatal(err)
		}
		size := bt.dims[0]
		sizes = append(sizes, size)
		per := len(bt.images) / size
		for i := range size {
			idx := int(bt.images[i*per]*255 + 0.5)
			if int(bt.labels[i]) != idx%10 {
				t.Fatalf("label %d does not belong to image %d", bt.labels[i], idx)
			}
			indices = append(indices, idx)
		}
	}
}

func TestBatchesShapesAndValues(t *testing.T) {
	im := toyImages(10, 2, 3, 3)
	im.Pixels[0], im.Pixels[1], im.Pixels[2] = 0, 255, 51 // Image 0, pixel (0,0): channels 0..2.
	norm := Normalization{Mean: []float32{0.5, 0, 0.2}, Std: []float32{0.5, 1, 0.1}}
	tests := []struct {
		name     string
		cfg      BatchConfig
		dims     []int
		sizes    []int
		first3   []float32 // Values of image 0, pixel (0,0).
		wantStep int
	}{
		{"nhwc", BatchConfig{BatchSize: 4}, []int{4, 2, 3, 3}, []int{4, 4, 2}, []float32{0, 1, 0.2}, 3},
		{"flatten", BatchConfig{BatchSize: 4, Flatten: true}, []int{4, 18}, []int{4, 4, 2}, []float32{0, 1, 0.2}, 3},
		{"drop remainder", BatchConfig{BatchSize: 4, DropRemainder: true}, []int{4, 2, 3, 3}, []int{4, 4}, []float32{0, 1, 0.2}, 2},
		{"normalized", BatchConfig{BatchSize: 5, Normalization: norm}, []int{5, 2, 3, 3}, []int{5, 5}, []float32{-1, 1, 0}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := NewBatches(im, tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if b.Steps() != tc.wantStep {
				t.Errorf("Steps() = %d, want %d", b.Steps(), tc.wantStep)
			}
			first, err := yield(t, b)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.dims, first.dims); diff != "" {
				t.Errorf("image dims mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.first3, first.images[:3], cmpFloat); diff != "" {
				t.Errorf("pixel values mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]int32{0, 1, 2, 3}, first.labels[:4]); diff != "" {
				t.Errorf("labels mismatch (-want +got):\n%s", diff)
			}
			sizes := []int{first.dims[0]}
			for {
				bt, err := yield(t, b)
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				sizes = append(sizes, bt.dims[0])
			}
			if diff := cmp.Diff(tc.sizes, sizes); diff != "" {
				t.Errorf("batch sizes mismatch (-want +got):\n%s", diff)
			}
			if _, err := yield(t, b); !errors.Is(err, io.EOF) {
				t.Errorf("Yield after the end: %v, want io.EOF", err)
			}
		})
	}
}

var cmpFloat = cmp.Comparer(func(a, b float32) bool { return a-b < 1e-5 && b-a < 1e-5 })

func TestBatchesShuffleDeterminism(t *testing.T) {
	im := toyImages(50, 2, 2, 1)
	order := func(seed int64, epochs int) [][]int {
		b, err := NewBatches(im, BatchConfig{BatchSize: 8, Shuffle: true, Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		var out [][]int
		for range epochs {
			idx, _ := epochIndices(t, b)
			out = append(out, idx)
			b.Reset()
		}
		return out
	}
	a, again, other := order(1, 3), order(1, 3), order(2, 3)
	if diff := cmp.Diff(a, again); diff != "" {
		t.Errorf("same seed gave different orders (-first +second):\n%s", diff)
	}
	if cmp.Equal(a[0], other[0]) {
		t.Error("seeds 1 and 2 gave the same order")
	}
	if cmp.Equal(a[0], a[1]) || cmp.Equal(a[1], a[2]) {
		t.Error("consecutive epochs have the same order")
	}
	identity := make([]int, im.N)
	for i := range identity {
		identity[i] = i
	}
	for e, idx := range a {
		if cmp.Equal(idx, identity) {
			t.Errorf("epoch %d is not shuffled", e)
		}
		sorted := slices.Sorted(slices.Values(idx))
		if diff := cmp.Diff(identity, sorted); diff != "" {
			t.Errorf("epoch %d does not visit every image once (-want +got):\n%s", e, diff)
		}
		if diff := cmp.Diff(EpochOrder(im.N, 1, e), idx); diff != "" {
			t.Errorf("epoch %d differs from EpochOrder (-want +got):\n%s", e, diff)
		}
	}

	// Unshuffled batches visit the images in order.
	b, _ := NewBatches(im, BatchConfig{BatchSize: 8})
	if idx, _ := epochIndices(t, b); !cmp.Equal(idx, identity) {
		t.Errorf("unshuffled order = %v, want identity", idx)
	}
}

func TestBatchesResetAndSetEpoch(t *testing.T) {
	im := toyImages(12, 1, 1, 1)
	b, err := NewBatches(im, BatchConfig{BatchSize: 4, Shuffle: true, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	b.Reset() // Before any Yield: no change.
	if b.Epoch() != 0 {
		t.Fatalf("Epoch() after an initial Reset = %d, want 0", b.Epoch())
	}
	first, err := yield(t, b)
	if err != nil {
		t.Fatal(err)
	}
	b.Reset() // Mid-epoch: next epoch.
	if b.Epoch() != 1 {
		t.Fatalf("Epoch() after a mid-epoch Reset = %d, want 1", b.Epoch())
	}
	b.SetEpoch(0)
	again, _ := yield(t, b)
	if diff := cmp.Diff(first, again, cmp.AllowUnexported(batch{}), cmpFloat); diff != "" {
		t.Errorf("SetEpoch(0) did not replay epoch 0 (-first +replay):\n%s", diff)
	}
}

func TestBatchesLoop(t *testing.T) {
	im := toyImages(10, 1, 1, 1)
	b, err := NewBatches(im, BatchConfig{BatchSize: 4, Shuffle: true, Seed: 3, DropRemainder: true, Loop: true})
	if err != nil {
		t.Fatal(err)
	}
	var seen []int
	for step := range 7 { // 2 full batches per epoch: steps 0..6 cover epochs 0..3.
		bt, err := yield(t, b)
		if err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		if bt.dims[0] != 4 {
			t.Errorf("step %d: batch of %d, want 4", step, bt.dims[0])
		}
		for i := range 4 {
			seen = append(seen, int(bt.images[i]*255+0.5))
		}
	}
	if b.Epoch() != 3 {
		t.Errorf("Epoch() after 7 steps = %d, want 3", b.Epoch())
	}
	// Each epoch uses the first 8 images of its own permutation.
	var want []int
	for e := range 4 {
		want = append(want, EpochOrder(10, 3, e)[:8]...)
	}
	if diff := cmp.Diff(want[:28], seen); diff != "" {
		t.Errorf("looped order mismatch (-want +got):\n%s", diff)
	}
}

func TestNewBatchesErrors(t *testing.T) {
	im := toyImages(3, 2, 2, 3)
	bad := *im
	bad.Labels = bad.Labels[:2]
	for _, tc := range []struct {
		name string
		im   *Images
		cfg  BatchConfig
	}{
		{"zero batch", im, BatchConfig{}},
		{"negative batch", im, BatchConfig{BatchSize: -1}},
		{"no full batch", im, BatchConfig{BatchSize: 4, DropRemainder: true}},
		{"normalization channels", im, BatchConfig{BatchSize: 1, Normalization: Normalization{Mean: []float32{0, 0}}}},
		{"zero std", im, BatchConfig{BatchSize: 1, Normalization: Normalization{Std: []float32{0}}}},
		{"invalid images", &bad, BatchConfig{BatchSize: 1}},
		{"nil images", nil, BatchConfig{BatchSize: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewBatches(tc.im, tc.cfg); err == nil {
				t.Error("NewBatches succeeded, want an error")
			}
		})
	}
}

func BenchmarkYieldMNISTBatch60(b *testing.B) {
	im := toyImages(60000, 28, 28, 1)
	bs, err := NewBatches(im, BatchConfig{BatchSize: 60, Shuffle: true, Loop: true, Normalization: Normalization{Mean: []float32{0.1307}, Std: []float32{0.3081}}})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		_, x, y, err := bs.Yield()
		if err != nil {
			b.Fatal(err)
		}
		x[0].FinalizeAll()
		y[0].FinalizeAll()
	}
}

func BenchmarkYieldCIFARBatch128(b *testing.B) {
	im := toyImages(10000, 32, 32, 3)
	bs, err := NewBatches(im, BatchConfig{BatchSize: 128, Shuffle: true, Loop: true})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		_, x, y, err := bs.Yield()
		if err != nil {
			b.Fatal(err)
		}
		x[0].FinalizeAll()
		y[0].FinalizeAll()
	}
}

// TestEpochOrderGolden pins the shuffled order for a fixed seed, so that a change of the random
// source is noticed.
func TestEpochOrderGolden(t *testing.T) {
	got := [][]int{EpochOrder(10, 1, 0), EpochOrder(10, 1, 1)}
	if diff := cmp.Diff(goldenEpochOrders, got); diff != "" {
		t.Errorf("epoch orders for seed 1 changed (-want +got):\n%s", diff)
	}
}

var goldenEpochOrders = [][]int{{0, 5, 2, 3, 1, 4, 8, 7, 6, 9}, {4, 3, 6, 2, 8, 7, 1, 9, 0, 5}}
