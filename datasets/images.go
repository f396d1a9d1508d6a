package datasets

import (
	"fmt"
	"slices"
	"strings"
)

// Images is a labelled image set held in memory, pixels as uint8 in NHWC order: image i starts
// at Pixels[i*ImageSize()], and within an image the channels of one pixel are adjacent.
type Images struct {
	// Name identifies the set, e.g. "mnist-train"; [Batches.Name] reports it.
	Name string
	// Pixels holds N*Height*Width*Channels bytes.
	Pixels []uint8
	// Labels holds N class indices, each below NumClasses.
	Labels []uint8
	// N is the number of images.
	N int
	// Height, Width and Channels give the shape of one image.
	Height, Width, Channels int
	// NumClasses is the number of classes (10 for every data set [Load] knows).
	NumClasses int
}

// ImageSize is the number of bytes of one image: Height*Width*Channels.
func (im *Images) ImageSize() int { return im.Height * im.Width * im.Channels }

// Image returns the pixels of image i (HWC order), sharing memory with im.Pixels.
// It panics if i is out of range.
func (im *Images) Image(i int) []uint8 {
	s := im.ImageSize()
	return im.Pixels[i*s : (i+1)*s : (i+1)*s]
}

// Validate checks that the sizes agree with each other and that every label is below
// NumClasses. Errors wrap [ErrFormat].
func (im *Images) Validate() error {
	if im == nil {
		return fmt.Errorf("datasets: nil Images: %w", ErrFormat)
	}
	if im.N < 0 || im.Height <= 0 || im.Width <= 0 || im.Channels <= 0 || im.NumClasses <= 0 || im.NumClasses > 256 {
		return fmt.Errorf("datasets: %s: bad shape N=%d Height=%d Width=%d Channels=%d NumClasses=%d: %w",
			im.Name, im.N, im.Height, im.Width, im.Channels, im.NumClasses, ErrFormat)
	}
	if len(im.Pixels) != im.N*im.ImageSize() {
		return fmt.Errorf("datasets: %s: %d pixel bytes, want N*H*W*C = %d*%d*%d*%d = %d: %w",
			im.Name, len(im.Pixels), im.N, im.Height, im.Width, im.Channels, im.N*im.ImageSize(), ErrFormat)
	}
	if len(im.Labels) != im.N {
		return fmt.Errorf("datasets: %s: %d labels for %d images: %w", im.Name, len(im.Labels), im.N, ErrFormat)
	}
	if err := im.checkLabels(); err != nil {
		return fmt.Errorf("datasets: %s: %w", im.Name, err)
	}
	return nil
}

// checkLabels reports the first label that is not below NumClasses.
func (im *Images) checkLabels() error {
	for i, l := range im.Labels {
		if int(l) >= im.NumClasses {
			return fmt.Errorf("label %d of image %d is not below NumClasses=%d: %w", l, i, im.NumClasses, ErrFormat)
		}
	}
	return nil
}

// ClassCounts returns how many images each class has.
func (im *Images) ClassCounts() []int {
	counts := make([]int, im.NumClasses)
	for _, l := range im.Labels {
		if int(l) < len(counts) {
			counts[l]++
		}
	}
	return counts
}

// Subset returns the first n images (all of them if n >= N, none if n <= 0), sharing memory
// with im. Use it to shrink a run for a smoke test.
func (im *Images) Subset(n int) *Images {
	n = max(0, min(n, im.N))
	sub := *im
	sub.N = n
	sub.Pixels = im.Pixels[: n*im.ImageSize() : n*im.ImageSize()]
	sub.Labels = im.Labels[:n:n]
	return &sub
}

// Split holds out validation images chosen at random, as the Lottery Ticket experiments hold out
// 5,000 of MNIST's training images. The choice depends only on (N, validation, seed): the same
// seed gives the same split on every machine. Both parts keep the original order of their
// images and get fresh copies of the data.
//
// The validation part is named after im with a "-train" suffix replaced by "-validation" (or
// "-validation" appended); the training part keeps im's name.
//
// It returns an error if validation is negative or larger than N.
func (im *Images) Split(validation int, seed int64) (train, val *Images, err error) {
	if validation < 0 || validation > im.N {
		return nil, nil, fmt.Errorf("datasets: %s: cannot hold out %d of %d images", im.Name, validation, im.N)
	}
	perm := permutation(im.N, uint64(seed), splitStream)
	valIdx, trainIdx := perm[:validation], perm[validation:]
	slices.Sort(valIdx)
	slices.Sort(trainIdx)
	valName := strings.TrimSuffix(im.Name, "-train") + "-validation"
	return im.gather(im.Name, trainIdx), im.gather(valName, valIdx), nil
}

// splitStream and epochStream separate the random streams of Split and of batch shuffling, so
// that the same seed used for both does not correlate them.
const (
	splitStream = 0x5eed5011175eed
	epochStream = 0x9e3779b97f4a7c15
)

// gather copies the images at idx into a new Images.
func (im *Images) gather(name string, idx []int) *Images {
	s := im.ImageSize()
	out := &Images{
		Name: name, N: len(idx), Height: im.Height, Width: im.Width, Channels: im.Channels, NumClasses: im.NumClasses,
		Pixels: make([]uint8, len(idx)*s),
		Labels: make([]uint8, len(idx)),
	}
	for j, i := range idx {
		copy(out.Pixels[j*s:(j+1)*s], im.Pixels[i*s:(i+1)*s])
		out.Labels[j] = im.Labels[i]
	}
	return out
}
