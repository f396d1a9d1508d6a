package datasets

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSplit(t *testing.T) {
	im := toyImages(100, 2, 2, 1)
	im.Name = "toy-train"
	train, val, err := im.Split(30, 42)
	if err != nil {
		t.Fatal(err)
	}
	for _, part := range []*Images{train, val} {
		if err := part.Validate(); err != nil {
			t.Fatal(err)
		}
	}
	if train.N != 70 || val.N != 30 {
		t.Fatalf("sizes %d, %d; want 70, 30", train.N, val.N)
	}
	if train.Name != "toy-train" || val.Name != "toy-validation" {
		t.Errorf("names %q, %q; want toy-train, toy-validation", train.Name, val.Name)
	}
	// Every image lands in exactly one part, each part in the original order, with its label.
	ids := func(part *Images) []int {
		var out []int
		for i := range part.N {
			id := int(part.Image(i)[0])
			if int(part.Labels[i]) != id%10 {
				t.Fatalf("%s: image %d carries label %d", part.Name, id, part.Labels[i])
			}
			out = append(out, id)
		}
		return out
	}
	trainIDs, valIDs := ids(train), ids(val)
	if !slices.IsSorted(trainIDs) || !slices.IsSorted(valIDs) {
		t.Error("parts are not in the original order")
	}
	all := slices.Sorted(slices.Values(append(slices.Clone(trainIDs), valIDs...)))
	want := make([]int, 100)
	for i := range want {
		want[i] = i
	}
	if diff := cmp.Diff(want, all); diff != "" {
		t.Errorf("the parts do not partition the images (-want +got):\n%s", diff)
	}

	_, val2, _ := im.Split(30, 42)
	if diff := cmp.Diff(valIDs, ids(val2)); diff != "" {
		t.Errorf("same seed, different split (-first +second):\n%s", diff)
	}
	_, val3, _ := im.Split(30, 43)
	if cmp.Equal(valIDs, ids(val3)) {
		t.Error("seeds 42 and 43 gave the same split")
	}
	// The split is a copy: changing a part leaves the original alone.
	if &train.Pixels[0] == &im.Pixels[0] || &val.Labels[0] == &im.Labels[0] {
		t.Error("Split shares memory with the original")
	}

	for _, bad := range []int{-1, 101} {
		if _, _, err := im.Split(bad, 1); err == nil || !strings.Contains(err.Error(), "cannot hold out") {
			t.Errorf("Split(%d) error = %v, want 'cannot hold out'", bad, err)
		}
	}
	if tr, va, err := im.Split(0, 1); err != nil || tr.N != 100 || va.N != 0 {
		t.Errorf("Split(0) = %v, %v, %v; want all in train", tr.N, va.N, err)
	}
}

// TestSplitGolden pins the split for a fixed seed, so that a change of the random source is
// noticed: the Lottery Ticket runs depend on it.
func TestSplitGolden(t *testing.T) {
	im := toyImages(20, 1, 1, 1)
	_, val, err := im.Split(5, 0)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]int, val.N)
	for i := range val.N {
		got[i] = int(val.Pixels[i])
	}
	want := goldenSplit
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("validation images for seed 0 changed (-want +got):\n%s", diff)
	}
}

func TestSubset(t *testing.T) {
	im := toyImages(10, 2, 2, 3)
	for _, tc := range []struct{ n, want int }{{3, 3}, {0, 0}, {-2, 0}, {10, 10}, {50, 10}} {
		sub := im.Subset(tc.n)
		if sub.N != tc.want || len(sub.Labels) != tc.want || len(sub.Pixels) != tc.want*12 {
			t.Errorf("Subset(%d): N=%d, %d labels, %d pixels; want %d images", tc.n, sub.N, len(sub.Labels), len(sub.Pixels), tc.want)
		}
		if err := sub.Validate(); err != nil {
			t.Errorf("Subset(%d): %v", tc.n, err)
		}
	}
	if im.N != 10 {
		t.Errorf("Subset changed the original: N=%d", im.N)
	}
}

func TestValidate(t *testing.T) {
	good := toyImages(4, 2, 2, 1)
	for _, tc := range []struct {
		name    string
		breakIt func(im *Images)
		want    string
	}{
		{"pixels", func(im *Images) { im.Pixels = im.Pixels[:15] }, "15 pixel bytes, want N*H*W*C = 4*2*2*1 = 16"},
		{"labels", func(im *Images) { im.Labels = im.Labels[:3] }, "3 labels for 4 images"},
		{"label range", func(im *Images) { im.Labels[2] = 10 }, "label 10 of image 2 is not below NumClasses=10"},
		{"shape", func(im *Images) { im.Channels = 0 }, "bad shape"},
		{"classes", func(im *Images) { im.NumClasses = 0 }, "bad shape"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			im := toyImages(4, 2, 2, 1)
			tc.breakIt(im)
			err := im.Validate()
			if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want ErrFormat containing %q", err, tc.want)
			}
		})
	}
	if err := good.Validate(); err != nil {
		t.Error(err)
	}
}

func TestNormalization(t *testing.T) {
	n := Normalization{Mean: []float32{0.5}, Std: []float32{0.25}}
	if got := n.Apply(255, 0); got != 2 {
		t.Errorf("Apply(255) = %g, want 2", got)
	}
	if got := n.Apply(0, 2); got != -2 {
		t.Errorf("Apply(0, channel 2) = %g, want -2 (one value applies to all channels)", got)
	}
	if got := ScaleTo01().Apply(51, 0); got != 0.2 {
		t.Errorf("ScaleTo01().Apply(51) = %g, want 0.2", got)
	}
	if got, want := ScaleTo01().String(), "scale to [0,1]"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}

	std, err := StandardNormalization("CIFAR10")
	if err != nil {
		t.Fatal(err)
	}
	if err := std.Validate(3); err != nil {
		t.Error(err)
	}
	if err := std.Validate(1); err == nil {
		t.Error("3-channel normalization validated for 1 channel")
	}
	std.Mean[0] = 9 // Callers get their own copy.
	again, _ := StandardNormalization("cifar10")
	if again.Mean[0] != 0.4914 {
		t.Errorf("StandardNormalization returned shared slices: Mean[0] = %g", again.Mean[0])
	}
	if _, err := StandardNormalization("svhn"); !errors.Is(err, ErrUnknownDataset) {
		t.Errorf("err = %v, want ErrUnknownDataset", err)
	}
	for _, bad := range []Normalization{{Std: []float32{-1}}, {Std: []float32{0, 1, 1}}, {Mean: []float32{1, 2}}} {
		if err := bad.Validate(3); err == nil {
			t.Errorf("%v validated", bad)
		}
	}
}

var goldenSplit = []int{0, 1, 4, 5, 12}
