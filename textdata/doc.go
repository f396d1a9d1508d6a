// Package textdata loads byte-level text corpora for language modelling, with train, validation and
// test splits, a unigram baseline and the windows a model trains and is evaluated on. It knows
// nothing of GoMLX or pruning: a corpus is three byte slices.
//
//	c, err := textdata.GoSource(textdata.GoSourceOptions{Max: textdata.Limits{Train: 4 << 20}})
//	base := textdata.Unigram(c.Train).CrossEntropy(c.Test) // base.BitsPerByte(), base.Perplexity()
//	w, err := textdata.NewWindows(c.Train, 64, seed)       // w.Next(32): 32 random windows of 65 bytes
//	eval := textdata.SequentialWindows(c.Test, 64)         // every byte after the first a target once
//
// # Corpora
//
//   - [GoSource]: the .go files of the Go distribution's source tree, $(go env GOROOT)/src, which
//     every machine with Go has (Go 1.26.8: 6,495 files, 88 MB, 79 MB of them in the train split).
//     Files under a directory named testdata are left out. Each file goes to one split by a hash
//     of its slash-separated path relative to the root ([SplitOf]: FNV-1a, 90% train, 5%
//     validation, 5% test), so a file never straddles two splits and the split does not depend on
//     which other files exist. Within a split the files are concatenated in sorted path order,
//     each followed by [FileSeparator] (a zero byte, which Go source never holds). [Limits] cap
//     each split's size: the split is cut at the cap, so a capped split holds the first files in
//     path order (archive/, bufio/, bytes/, cmd/...).
//   - [WikiText2]: WikiText-2 raw (Merity et al. 2016, "Pointer Sentinel Mixture Models"), the files
//     wiki.train.raw, wiki.valid.raw and wiki.test.raw from a directory, as they are (UTF-8 bytes),
//     so that bits per byte can be compared with published byte-level tables.
//
// # Measures
//
// [CrossEntropy] is a model's mean negative log-likelihood of the bytes it predicts, in nats; its
// bits per byte is that over ln 2 and its perplexity (per byte) e to that. [Unigram] is the
// baseline every byte-level model must beat: byte frequencies of the training split with add-one
// (Laplace) smoothing, so no byte has probability zero.
//
// # Windows
//
// A model with context T trains on windows of T+1 bytes: inputs the first T, targets the last T
// (each input's next byte). [Windows] draws them at uniformly random offsets from a seeded source
// (the same seed gives the same windows). [SequentialWindows] lays them end to end for evaluation,
// each starting where the previous one's inputs end, so that every byte but the first of the split
// is predicted exactly once (up to a last partial window, which is dropped).
//
// # Hyperparameters
//
// [GoSourceOptions]: Dir (default $(go env GOROOT)/src) and Max ([Limits], bytes per split; zero
// means no cap). [NewWindows]: the context T and the seed.
//
// # Errors
//
// Loaders return errors that name the directory at fault and wrap [ErrNotFound] (no such directory,
// no .go files in it, a WikiText-2 file missing) or [ErrEmpty] (a split with no bytes: too few
// files, or an empty file), for [errors.Is]. Other I/O errors wrap the [os.PathError].
package textdata
