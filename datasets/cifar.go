package datasets

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// CIFAR-10 binary format: each record is one label byte followed by a 32×32 image as three
// 1024-byte planes (red, green, blue), each in row-major order.
const (
	cifarSide       = 32
	cifarChannels   = 3
	cifarImageBytes = cifarSide * cifarSide * cifarChannels // 3072
	cifarRecordSize = 1 + cifarImageBytes                   // 3073
	cifarClasses    = 10
)

// DecodeCIFAR10Batch decodes one CIFAR-10 binary batch (e.g. data_batch_1.bin; the data is not
// compressed). It returns the labels and the pixels converted from the file's CHW order to NHWC
// (32×32×3 per image).
//
// Errors wrap [ErrFormat]: an empty batch, a size that is not a whole number of 3,073-byte
// records (a truncated record), a batch over 1 GiB, or a label not below 10.
func DecodeCIFAR10Batch(r io.Reader) (pixels, labels []uint8, err error) {
	raw, err := readAllLimited(r, maxPayloadBytes)
	if err != nil {
		return nil, nil, err
	}
	return decodeCIFAR(raw)
}

// decodeCIFAR decodes the records in raw; see [DecodeCIFAR10Batch].
func decodeCIFAR(raw []byte) (pixels, labels []uint8, err error) {
	if len(raw) == 0 {
		return nil, nil, fmt.Errorf("empty batch: %w", ErrFormat)
	}
	if len(raw)%cifarRecordSize != 0 {
		return nil, nil, fmt.Errorf("size %d is not a multiple of the %d-byte record (%d whole records and %d bytes): truncated record: %w",
			len(raw), cifarRecordSize, len(raw)/cifarRecordSize, len(raw)%cifarRecordSize, ErrFormat)
	}
	n := len(raw) / cifarRecordSize
	labels = make([]uint8, n)
	pixels = make([]uint8, n*cifarImageBytes)
	const plane = cifarSide * cifarSide
	for i := range n {
		rec := raw[i*cifarRecordSize : (i+1)*cifarRecordSize]
		if rec[0] >= cifarClasses {
			return nil, nil, fmt.Errorf("record %d: label %d is not below %d: %w", i, rec[0], cifarClasses, ErrFormat)
		}
		labels[i] = rec[0]
		r, g, b := rec[1:1+plane], rec[1+plane:1+2*plane], rec[1+2*plane:1+3*plane]
		dst := pixels[i*cifarImageBytes : (i+1)*cifarImageBytes]
		for p := range plane {
			dst[3*p], dst[3*p+1], dst[3*p+2] = r[p], g[p], b[p]
		}
	}
	return pixels, labels, nil
}

// ReadCIFAR10 reads CIFAR-10 binary batch files and concatenates them, in the order given, into
// one [Images] of 32×32×3 images with 10 classes.
//
// Errors name the file at fault and wrap [ErrFormat] (or the [os.PathError] of a file that
// cannot be opened).
func ReadCIFAR10(name string, paths ...string) (*Images, error) {
	if len(paths) == 0 {
		return nil, fmt.Errorf("datasets: %s: no CIFAR-10 batch files given", name)
	}
	batches := make([]cifarBatch, 0, len(paths))
	for _, path := range paths {
		raw, err := readFileLimited(path, maxPayloadBytes)
		if err != nil {
			return nil, err
		}
		pixels, labels, err := decodeCIFAR(raw)
		if err != nil {
			return nil, fmt.Errorf("datasets: %s: %w", path, err)
		}
		batches = append(batches, cifarBatch{pixels, labels})
	}
	return joinCIFAR(name, batches), nil
}

// cifarBatch is one decoded batch file.
type cifarBatch struct{ pixels, labels []uint8 }

// joinCIFAR concatenates batches into one Images.
func joinCIFAR(name string, batches []cifarBatch) *Images {
	var n int
	for _, b := range batches {
		n += len(b.labels)
	}
	im := &Images{
		Name: name, N: n, Height: cifarSide, Width: cifarSide, Channels: cifarChannels, NumClasses: cifarClasses,
		Pixels: make([]uint8, 0, n*cifarImageBytes), Labels: make([]uint8, 0, n),
	}
	for _, b := range batches {
		im.Pixels = append(im.Pixels, b.pixels...)
		im.Labels = append(im.Labels, b.labels...)
	}
	return im
}

// readFileLimited reads a whole file after checking its size against limit. Errors name the file.
func readFileLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("datasets: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("datasets: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("datasets: %s: not a regular file: %w", path, ErrFormat)
	}
	if fi.Size() > limit {
		return nil, fmt.Errorf("datasets: %s: %d bytes, more than the %d-byte limit: %w", path, fi.Size(), limit, ErrFormat)
	}
	data := make([]byte, fi.Size())
	if _, err := io.ReadFull(f, data); err != nil {
		return nil, fmt.Errorf("datasets: %s: %w", path, err)
	}
	return data, nil
}

// readAllLimited reads r to its end, failing if it holds more than limit bytes.
func readAllLimited(r io.Reader, limit int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("more than the %d-byte limit: %w", limit, ErrFormat)
	}
	return data, nil
}

// loadCIFARDir loads CIFAR-10 from a data directory: batch files in its cifar-10-batches-bin
// subdirectory or in itself, or else the archive cifar-10-binary.tar.gz read in place. Only
// structure is checked.
func loadCIFARDir(spec *datasetSpec, dir string) (*Data, error) {
	var notes []string
	for _, d := range []string{filepath.Join(dir, spec.cifarDir), dir} {
		data, err := loadCIFARBatches(spec, d, 0)
		if err == nil || !errors.Is(err, ErrNotFound) {
			return data, err
		}
		if !errors.Is(err, errNoFiles) {
			notes = append(notes, fmt.Sprintf("%s: %v", d, err))
		}
	}
	archive := filepath.Join(dir, spec.cifarArchive)
	if fi, err := os.Stat(archive); err == nil && fi.Mode().IsRegular() {
		return readCIFARArchive(spec, archive)
	}
	if len(notes) == 0 {
		return nil, missing("missing")
	}
	return nil, missing("%s", strings.Join(notes, ", "))
}

// errNoFiles marks a directory that holds none of the files looked for.
var errNoFiles = missing("missing")

// loadCIFARBatches loads the batch files from dir. When records > 0, each file must hold
// exactly that many records.
func loadCIFARBatches(spec *datasetSpec, dir string, records int) (*Data, error) {
	names := append(slices.Clone(spec.cifarTrain), spec.cifarTest)
	paths := make([]string, len(names))
	var absent []string
	for i, name := range names {
		paths[i] = filepath.Join(dir, name)
		fi, err := os.Stat(paths[i])
		if err != nil || !fi.Mode().IsRegular() {
			absent = append(absent, name)
			continue
		}
		if want := int64(records) * cifarRecordSize; records > 0 && fi.Size() != want {
			return nil, fmt.Errorf("datasets: %s: %d bytes, want %d (%d records): %w", paths[i], fi.Size(), want, records, ErrFormat)
		}
	}
	if len(absent) == len(names) {
		return nil, errNoFiles
	}
	if len(absent) > 0 {
		return nil, missing("incomplete: no %s", strings.Join(absent, ", "))
	}
	train, err := ReadCIFAR10(spec.name+"-train", paths[:len(paths)-1]...)
	if err != nil {
		return nil, err
	}
	test, err := ReadCIFAR10(spec.name+"-test", paths[len(paths)-1])
	if err != nil {
		return nil, err
	}
	return &Data{Name: spec.name, Train: train, Test: test, Source: "dir " + dir}, nil
}

// readCIFARArchive reads the batch files straight from a CIFAR-10 archive, whatever directory
// inside it holds them, without writing anything.
func readCIFARArchive(spec *datasetSpec, archive string) (*Data, error) {
	f, err := os.Open(archive)
	if err != nil {
		return nil, fmt.Errorf("datasets: %w", err)
	}
	defer f.Close()
	names := append(slices.Clone(spec.cifarTrain), spec.cifarTest)
	batches := make(map[string]cifarBatch, len(names))
	err = walkTarGz(f, func(name string, hdr *tar.Header, r io.Reader) error {
		base := filepath.Base(name)
		if hdr.Typeflag != tar.TypeReg || !slices.Contains(names, base) {
			return nil
		}
		if _, dup := batches[base]; dup {
			return fmt.Errorf("entry %q: second copy of %s: %w", hdr.Name, base, ErrFormat)
		}
		raw, err := readAllLimited(r, maxPayloadBytes)
		if err != nil {
			return err
		}
		pixels, labels, err := decodeCIFAR(raw)
		if err != nil {
			return fmt.Errorf("entry %q: %w", hdr.Name, err)
		}
		batches[base] = cifarBatch{pixels, labels}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("datasets: %s: %w", archive, err)
	}
	train := make([]cifarBatch, 0, len(spec.cifarTrain))
	for _, name := range names {
		b, ok := batches[name]
		if !ok {
			return nil, fmt.Errorf("datasets: %s: archive holds no %s: %w", archive, name, ErrFormat)
		}
		if name != spec.cifarTest {
			train = append(train, b)
		}
	}
	return &Data{
		Name:   spec.name,
		Train:  joinCIFAR(spec.name+"-train", train),
		Test:   joinCIFAR(spec.name+"-test", []cifarBatch{batches[spec.cifarTest]}),
		Source: "archive " + archive,
	}, nil
}

// extractCIFAR extracts a verified archive into dir/cifar-10-batches-bin: into a temporary
// directory first, then renamed, so that the batch directory appears complete or not at all.
func extractCIFAR(spec *datasetSpec, archive, dir string) error {
	tmp, err := os.MkdirTemp(dir, ".extract-")
	if err != nil {
		return fmt.Errorf("datasets: %w", err)
	}
	defer os.RemoveAll(tmp)
	if err := ExtractTarGz(archive, tmp); err != nil {
		return err
	}
	src := filepath.Join(tmp, spec.cifarDir)
	if fi, err := os.Stat(src); err != nil || !fi.IsDir() {
		return fmt.Errorf("datasets: %s: archive holds no %s/ directory: %w", archive, spec.cifarDir, ErrFormat)
	}
	dst := filepath.Join(dir, spec.cifarDir)
	if err := os.Rename(src, dst); err != nil {
		if _, statErr := os.Stat(dst); statErr == nil {
			return nil // Another process extracted it meanwhile.
		}
		return fmt.Errorf("datasets: %w", err)
	}
	return nil
}
