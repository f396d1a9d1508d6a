package distill

import (
	"fmt"
	"io"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/prunelab/prunelab/datasets"
)

// Batches is a train.Dataset of shuffled training batches whose labels are the class indices
// ([batch, 1] int32) and the teacher's logits for the same images ([batch, classes] float32). It
// visits the images in the order datasets.Batches would (datasets.EpochOrder with the same seed),
// drops the last partial batch and loops forever.
type Batches struct {
	im      *datasets.Images
	teacher []float32
	classes int
	size    int
	seed    int64
	norm    datasets.Normalization
	epoch   int
	pos     int
	order   []int
}

// NewBatches returns batches of im with the teacher's logits (row-major [im.N, classes]).
func NewBatches(im *datasets.Images, teacher []float32, batchSize int, seed int64, norm datasets.Normalization) (*Batches, error) {
	if err := im.Validate(); err != nil {
		return nil, err
	}
	if im.N == 0 || len(teacher)%im.N != 0 || batchSize <= 0 || batchSize > im.N {
		return nil, fmt.Errorf("distill: %d images, %d teacher logits, batch size %d", im.N, len(teacher), batchSize)
	}
	if err := norm.Validate(im.Channels); err != nil {
		return nil, err
	}
	b := &Batches{im: im, teacher: teacher, classes: len(teacher) / im.N, size: batchSize, seed: seed, norm: norm}
	b.order = datasets.EpochOrder(im.N, seed, 0)
	return b, nil
}

// Name implements train.Dataset.
func (b *Batches) Name() string { return b.im.Name + "+teacher" }

// Reset implements train.Dataset: the next epoch starts.
func (b *Batches) Reset() {
	if b.pos > 0 {
		b.epoch++
		b.pos = 0
		b.order = datasets.EpochOrder(b.im.N, b.seed, b.epoch)
	}
}

// Yield implements train.Dataset.
func (b *Batches) Yield() (spec any, inputs, labels []*tensors.Tensor, err error) {
	if b.pos+b.size > b.im.N {
		b.epoch++
		b.pos = 0
		b.order = datasets.EpochOrder(b.im.N, b.seed, b.epoch)
	}
	im := b.im
	s, c := im.ImageSize(), im.Channels
	x := make([]float32, b.size*s)
	y := make([]int32, b.size)
	t := make([]float32, b.size*b.classes)
	for i := range b.size {
		idx := b.order[b.pos+i]
		y[i] = int32(im.Labels[idx])
		for j, p := range im.Image(idx) {
			x[i*s+j] = b.norm.Apply(p, j%c)
		}
		copy(t[i*b.classes:(i+1)*b.classes], b.teacher[idx*b.classes:(idx+1)*b.classes])
	}
	b.pos += b.size
	xs := tensors.FromFlatDataAndDimensions(x, b.size, im.Height, im.Width, im.Channels)
	ys := tensors.FromShape(shapes.Make(dtypes.Int32, b.size, 1))
	tensors.MustMutableFlatData(ys, func(flat []int32) { copy(flat, y) })
	ts := tensors.FromFlatDataAndDimensions(t, b.size, b.classes)
	return nil, []*tensors.Tensor{xs}, []*tensors.Tensor{ys, ts}, nil
}

var _ = io.EOF
