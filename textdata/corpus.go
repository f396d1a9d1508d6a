package textdata

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Sentinel errors. Errors returned by this package wrap one of these (test with [errors.Is]) and
// name the directory or file at fault.
var (
	// ErrNotFound reports a corpus that is not there: no such directory, no .go files under it,
	// a WikiText-2 file missing, no go command to find GOROOT with.
	ErrNotFound = errors.New("corpus not found")
	// ErrEmpty reports a split with no bytes.
	ErrEmpty = errors.New("empty split")
	// ErrTooShort reports a text shorter than one window.
	ErrTooShort = errors.New("text shorter than one window")
)

// Split names one of a corpus's three parts.
type Split int

// The splits of a [Corpus].
const (
	Train Split = iota
	Validation
	Test
)

// Splits lists the three splits in order.
var Splits = []Split{Train, Validation, Test}

// String returns "train", "validation" or "test".
func (s Split) String() string {
	switch s {
	case Train:
		return "train"
	case Validation:
		return "validation"
	case Test:
		return "test"
	}
	return fmt.Sprintf("Split(%d)", int(s))
}

// FileSeparator follows every file in the splits of [GoSource]. Go source never holds a zero byte
// (the compiler rejects it), so it marks file boundaries unambiguously.
const FileSeparator byte = 0

// Corpus is a text split into train, validation and test bytes.
type Corpus struct {
	// Source says where the text came from: the directory, and the Go version for [GoSource].
	Source string
	// Train, Validation and Test are the splits' bytes.
	Train, Validation, Test []byte
	// TrainFiles, ValidationFiles and TestFiles count the files in each split (one that a
	// [Limits] cap cut counts; one left out entirely by it does not).
	TrainFiles, ValidationFiles, TestFiles int
}

// Bytes returns the bytes of split s (nil for an unknown split).
func (c *Corpus) Bytes(s Split) []byte {
	switch s {
	case Train:
		return c.Train
	case Validation:
		return c.Validation
	case Test:
		return c.Test
	}
	return nil
}

// Files returns the number of files in split s.
func (c *Corpus) Files(s Split) int {
	switch s {
	case Train:
		return c.TrainFiles
	case Validation:
		return c.ValidationFiles
	case Test:
		return c.TestFiles
	}
	return 0
}

// Limits caps the size of each split in bytes; zero means no cap.
type Limits struct {
	Train, Validation, Test int
}

func (l Limits) of(s Split) int {
	switch s {
	case Train:
		return l.Train
	case Validation:
		return l.Validation
	}
	return l.Test
}

// GoSourceOptions say which Go source tree [GoSource] reads and how much of it.
type GoSourceOptions struct {
	// Dir is the root of the tree; default $(go env GOROOT)/src.
	Dir string
	// Max caps each split's bytes (file separators included); zero fields mean no cap.
	Max Limits
}

// SplitOf returns the split a file goes to: by the FNV-1a hash of its slash-separated path relative
// to the corpus root, modulo 100: below 90 train, below 95 validation, else test.
func SplitOf(relPath string) Split {
	h := fnv.New64a()
	h.Write([]byte(filepath.ToSlash(relPath)))
	switch v := h.Sum64() % 100; {
	case v < 90:
		return Train
	case v < 95:
		return Validation
	}
	return Test
}

// GoSource reads the .go files of a Go source tree (by default the Go distribution's own,
// $(go env GOROOT)/src), leaving out testdata directories, and splits them by file with [SplitOf].
// Within a split the files follow each other in sorted path order, each followed by
// [FileSeparator]; opts.Max cuts a split at its cap, and files of a full split are not read.
// Errors wrap [ErrNotFound] (no such directory, no .go files, no go command to find GOROOT) or
// [ErrEmpty] (a split without bytes).
func GoSource(opts GoSourceOptions) (*Corpus, error) {
	dir := opts.Dir
	if dir == "" {
		root, err := goroot()
		if err != nil {
			return nil, err
		}
		dir = filepath.Join(root, "src")
	}
	if err := checkDir(dir, "Go source"); err != nil {
		return nil, err
	}
	var paths []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == "testdata" && path != dir {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Type().IsRegular() && strings.HasSuffix(d.Name(), ".go") {
			rel, err := filepath.Rel(dir, path)
			if err != nil {
				return err
			}
			paths = append(paths, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("textdata: walking Go source %s: %w", dir, err)
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("textdata: Go source %s: no .go files outside testdata directories: %w", dir, ErrNotFound)
	}
	slices.Sort(paths)
	var splits [3][]byte
	var files [3]int
	for _, rel := range paths {
		s := SplitOf(rel)
		limit := opts.Max.of(s)
		if limit > 0 && len(splits[s]) >= limit {
			continue
		}
		text, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(rel)))
		if err != nil {
			return nil, fmt.Errorf("textdata: Go source %s: %w", dir, err)
		}
		splits[s] = append(append(splits[s], text...), FileSeparator)
		if limit > 0 && len(splits[s]) > limit {
			splits[s] = splits[s][:limit:limit]
		}
		files[s]++
	}
	c := &Corpus{
		Source: "Go source " + dir + goVersion(dir),
		Train:  splits[Train], Validation: splits[Validation], Test: splits[Test],
		TrainFiles: files[Train], ValidationFiles: files[Validation], TestFiles: files[Test],
	}
	for _, s := range Splits {
		if len(c.Bytes(s)) == 0 {
			return nil, fmt.Errorf("textdata: Go source %s: the %s split is empty (%d .go files, none of them in it): %w",
				dir, s, len(paths), ErrEmpty)
		}
	}
	return c, nil
}

// goroot asks the go command for GOROOT, with the local toolchain (no toolchain download).
func goroot() (string, error) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("textdata: finding GOROOT: %v (set GoSourceOptions.Dir): %w", err, ErrNotFound)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goCmd, "env", "GOROOT")
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local", "GOFLAGS=")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	root := strings.TrimSpace(string(out))
	if err != nil || root == "" {
		return "", fmt.Errorf("textdata: %s env GOROOT: %v %s (set GoSourceOptions.Dir): %w",
			goCmd, err, strings.TrimSpace(stderr.String()), ErrNotFound)
	}
	return root, nil
}

// goVersion returns " (go1.26.8)" from the VERSION file beside a GOROOT's src, or "".
func goVersion(src string) string {
	b, err := os.ReadFile(filepath.Join(src, "..", "VERSION"))
	if err != nil {
		return ""
	}
	line, _, _ := strings.Cut(string(b), "\n")
	if line = strings.TrimSpace(line); !strings.HasPrefix(line, "go") {
		return ""
	}
	return " (" + line + ")"
}

// checkDir returns an error wrapping ErrNotFound unless dir is a directory.
func checkDir(dir, what string) error {
	info, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("textdata: %s %s: no such directory: %w", what, dir, ErrNotFound)
	case err != nil:
		return fmt.Errorf("textdata: %s: %w", what, err)
	case !info.IsDir():
		return fmt.Errorf("textdata: %s %s: not a directory: %w", what, dir, ErrNotFound)
	}
	return nil
}

// WikiText2Files are the files [WikiText2] reads, by split.
var WikiText2Files = [3]string{"wiki.train.raw", "wiki.valid.raw", "wiki.test.raw"}

// WikiText2 reads WikiText-2 raw from dir, or from its subdirectory wikitext-2-raw (where the
// published archive extracts them): the files [WikiText2Files], as they are. Errors wrap
// [ErrNotFound] (no such directory, a file missing, naming them) or [ErrEmpty] (an empty file).
func WikiText2(dir string) (*Corpus, error) {
	if err := checkDir(dir, "WikiText-2"); err != nil {
		return nil, err
	}
	if sub := filepath.Join(dir, "wikitext-2-raw"); checkDir(sub, "") == nil {
		if _, err := os.Stat(filepath.Join(dir, WikiText2Files[0])); err != nil {
			dir = sub
		}
	}
	var splits [3][]byte
	var missing []string
	for _, s := range Splits {
		b, err := os.ReadFile(filepath.Join(dir, WikiText2Files[s]))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			missing = append(missing, WikiText2Files[s])
		case err != nil:
			return nil, fmt.Errorf("textdata: WikiText-2: %w", err)
		case len(b) == 0:
			return nil, fmt.Errorf("textdata: WikiText-2 %s: %s is empty: %w", dir, WikiText2Files[s], ErrEmpty)
		}
		splits[s] = b
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("textdata: WikiText-2 %s: missing %s: %w", dir, strings.Join(missing, ", "), ErrNotFound)
	}
	return &Corpus{
		Source: "WikiText-2 raw " + dir,
		Train:  splits[Train], Validation: splits[Validation], Test: splits[Test],
		TrainFiles: 1, ValidationFiles: 1, TestFiles: 1,
	}, nil
}
