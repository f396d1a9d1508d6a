package experiment

import (
	"sync"

	"github.com/prunelab/prunelab/datasets"
)

// DataOptions choose a data set and how its training images are split. The zero value is MNIST
// with no validation images, all training and test images, seed 0.
type DataOptions struct {
	// Dataset is a name [datasets.Load] accepts; empty means "mnist".
	Dataset string
	// Dir is a directory holding the data set's files (empty: $PRUNELAB_DATA, the cache, then
	// the sources [datasets.Load] knows).
	Dir string
	// Validation is the number of training images held out for validation, chosen by Seed.
	Validation int
	// TrainLimit > 0 keeps only that many training images (after the validation split);
	// TestLimit > 0 only the first that many test images. For quick trials and smoke budgets.
	TrainLimit, TestLimit int
	// Seed chooses the validation images.
	Seed int64
}

// Splits are the three image sets of an experiment.
type Splits struct {
	Train, Validation, Test *datasets.Images
	// Source says where the files came from (see [datasets.Data.Source]).
	Source string
}

var (
	dataMu    sync.Mutex
	dataCache = map[[2]string]*datasets.Data{}
)

// LoadData loads a data set and splits it as o says, in one call. A data set is read from disk once
// per process (a notebook cell or a test that runs many flows pays once); the splits are new each
// call. An impossible split (more validation images than training images) is an [ErrOptions].
func LoadData(o DataOptions) (*Splits, error) {
	name := o.Dataset
	if name == "" {
		name = "mnist"
	}
	key := [2]string{name, o.Dir}
	dataMu.Lock()
	data, ok := dataCache[key]
	dataMu.Unlock()
	if !ok {
		var err error
		if data, err = datasets.Load(name, datasets.Options{Dir: o.Dir}); err != nil {
			return nil, err
		}
		dataMu.Lock()
		dataCache[key] = data
		dataMu.Unlock()
	}
	train, val, err := data.Train.Split(o.Validation, o.Seed)
	if err != nil {
		return nil, badOptions(err)
	}
	if o.TrainLimit > 0 && o.TrainLimit < train.N {
		train = train.Subset(o.TrainLimit)
	}
	test := data.Test
	if o.TestLimit > 0 && o.TestLimit < test.N {
		test = test.Subset(o.TestLimit)
	}
	return &Splits{Train: train, Validation: val, Test: test, Source: data.Source}, nil
}
