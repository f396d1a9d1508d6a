package datasets

import (
	"fmt"
	"io"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/train"
)

// BatchConfig configures [NewBatches]. BatchSize must be set; the other zero values mean: no
// shuffling, a smaller last batch, one epoch then io.EOF, images shaped [B, H, W, C], pixels
// scaled to [0,1].
type BatchConfig struct {
	// BatchSize is the number of images per batch.
	BatchSize int
	// Shuffle visits the images of each epoch in a random order that depends only on (Seed,
	// epoch): the same on every run and machine.
	Shuffle bool
	// Seed selects the shuffling.
	Seed int64
	// DropRemainder skips the last batch of an epoch when it would be smaller than BatchSize,
	// so every batch has the same shape (a new shape costs a new graph compilation).
	DropRemainder bool
	// Loop makes Yield go on forever, epoch after epoch (reshuffled), instead of returning io.EOF
	// at the end of each epoch. Use it with train.Loop.RunSteps, not RunEpochs.
	Loop bool
	// Flatten yields images shaped [B, H*W*C] instead of [B, H, W, C].
	Flatten bool
	// Normalization maps pixel bytes to float32; the zero value scales to [0,1].
	Normalization Normalization
}

// Batches yields an [Images] in batches, as a [train.Dataset] for GoMLX's training loops:
// inputs hold one float32 tensor of images, [B, H, W, C] (or [B, H*W*C] with Flatten), and
// labels one int32 tensor shaped [B, 1], as losses.SparseCategoricalCrossEntropyLogits expects.
// Each Yield returns fresh tensors that the caller owns.
//
// A Batches is not safe for concurrent use.
type Batches struct {
	im    *Images
	cfg   BatchConfig
	table [][256]float32 // table[c][p] is the normalized value of byte p in channel c.
	steps int

	epoch int   // Current epoch, from 0.
	pos   int   // Index (into order) of the next image of the epoch.
	order []int // Image order of the epoch when shuffling.
}

var _ train.Dataset = (*Batches)(nil)

// NewBatches returns a [Batches] over im. It returns an error if im is invalid, BatchSize is not
// positive, the normalization does not fit im's channels, or DropRemainder leaves no batch.
// The Batches reads im's memory: do not change it meanwhile.
func NewBatches(im *Images, cfg BatchConfig) (*Batches, error) {
	if err := im.Validate(); err != nil {
		return nil, err
	}
	if cfg.BatchSize <= 0 {
		return nil, fmt.Errorf("datasets: %s: BatchSize %d, want > 0", im.Name, cfg.BatchSize)
	}
	if err := cfg.Normalization.Validate(im.Channels); err != nil {
		return nil, fmt.Errorf("datasets: %s: %w", im.Name, err)
	}
	steps := im.N / cfg.BatchSize
	if !cfg.DropRemainder && im.N%cfg.BatchSize != 0 {
		steps++
	}
	if steps == 0 {
		return nil, fmt.Errorf("datasets: %s: %d images make no batch of %d (DropRemainder=%v)",
			im.Name, im.N, cfg.BatchSize, cfg.DropRemainder)
	}
	b := &Batches{im: im, cfg: cfg, table: cfg.Normalization.table(im.Channels), steps: steps}
	b.SetEpoch(0)
	return b, nil
}

// Name returns the name of the Images.
func (b *Batches) Name() string { return b.im.Name }

// Steps returns the number of batches in one epoch.
func (b *Batches) Steps() int { return b.steps }

// Epoch returns the current epoch, counted from 0.
func (b *Batches) Epoch() int { return b.epoch }

// SetEpoch restarts at the beginning of epoch e, e.g. to resume an interrupted run with the
// order it would have had.
func (b *Batches) SetEpoch(e int) {
	b.epoch, b.pos = e, 0
	if !b.cfg.Shuffle {
		b.order = nil
		return
	}
	b.order = EpochOrder(b.im.N, b.cfg.Seed, e)
}

// EpochOrder returns the order in which a shuffling [Batches] with the given seed visits n
// images in epoch e: a permutation drawn from a PCG source seeded with (seed, e).
func EpochOrder(n int, seed int64, e int) []int {
	return permutation(n, uint64(seed), uint64(e)^epochStream)
}

// Reset implements [train.Dataset]: it starts the next epoch, reshuffled, unless no batch of the
// current epoch has been yielded yet (so that a Reset before the first use changes nothing).
func (b *Batches) Reset() {
	if b.pos > 0 {
		b.SetEpoch(b.epoch + 1)
	}
}

// Yield implements [train.Dataset]: it returns the next batch, or io.EOF at the end of an epoch
// unless Loop is set. spec is always nil.
func (b *Batches) Yield() (spec any, inputs, labels []*tensors.Tensor, err error) {
	size := min(b.cfg.BatchSize, b.im.N-b.pos)
	if b.pos >= b.im.N || (b.cfg.DropRemainder && size < b.cfg.BatchSize) {
		if !b.cfg.Loop {
			return nil, nil, nil, io.EOF
		}
		b.SetEpoch(b.epoch + 1)
		size = min(b.cfg.BatchSize, b.im.N)
	}
	var dims []int
	if b.cfg.Flatten {
		dims = []int{size, b.im.ImageSize()}
	} else {
		dims = []int{size, b.im.Height, b.im.Width, b.im.Channels}
	}
	images := tensors.FromShape(shapes.Make(dtypes.Float32, dims...))
	lbls := tensors.FromShape(shapes.Make(dtypes.Int32, size, 1))
	err = tensors.MutableFlatData(images, func(flat []float32) {
		tensors.MustMutableFlatData(lbls, func(lflat []int32) {
			b.fill(flat, lflat)
		})
	})
	if err != nil {
		return nil, nil, nil, err
	}
	b.pos += size
	return nil, []*tensors.Tensor{images}, []*tensors.Tensor{lbls}, nil
}

// fill writes the next len(labels) images and labels of the epoch.
func (b *Batches) fill(pixels []float32, labels []int32) {
	s, c := b.im.ImageSize(), b.im.Channels
	for i := range labels {
		idx := b.pos + i
		if b.order != nil {
			idx = b.order[idx]
		}
		labels[i] = int32(b.im.Labels[idx])
		src := b.im.Pixels[idx*s : (idx+1)*s]
		dst := pixels[i*s : (i+1)*s]
		if c == 1 {
			table := &b.table[0]
			dst = dst[:len(src)]
			for j, p := range src {
				dst[j] = table[p]
			}
			continue
		}
		for j := 0; j < len(src); j += c {
			for k := range c {
				dst[j+k] = b.table[k][src[j+k]]
			}
		}
	}
}
