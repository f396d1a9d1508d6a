package datasets

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// IDX magic numbers: two zero bytes, the element type (0x08: unsigned byte) and the number of
// dimensions.
const (
	idxImagesMagic = 0x00000803 // ubyte, 3 dimensions: count, rows, columns.
	idxLabelsMagic = 0x00000801 // ubyte, 1 dimension: count.
)

// Limits that a header must respect before anything is allocated from it.
const (
	// maxPayloadBytes bounds the decoded size of one file (IDX or CIFAR batch). The largest real
	// file, the Fashion-MNIST training images, is 47 MB.
	maxPayloadBytes = 1 << 30
	// maxImageSide bounds the height and width an IDX header may declare.
	maxImageSide = 1 << 12
	// initialAlloc bounds the first allocation made for a payload: a lying header that passes the
	// limits above costs at most this much before the data runs out.
	initialAlloc = 1 << 20
)

// DecodeIDXImages decodes an IDX3 image file (magic 0x00000803, as used by MNIST and
// Fashion-MNIST), gzip-compressed or raw: the compression is detected from the data.
// It returns the pixels of the n images, each height×width bytes in row-major order.
//
// Errors wrap [ErrFormat]: bad magic, zero or oversized dimensions, truncated or trailing data,
// or a corrupt gzip stream.
func DecodeIDXImages(r io.Reader) (pixels []uint8, n, height, width int, err error) {
	r, err = maybeGunzip(r)
	if err != nil {
		return nil, 0, 0, 0, err
	}
	var header [16]byte
	if err := readIDXHeader(r, header[:], idxImagesMagic, "IDX images"); err != nil {
		return nil, 0, 0, 0, err
	}
	count := uint64(binary.BigEndian.Uint32(header[4:]))
	rows := uint64(binary.BigEndian.Uint32(header[8:]))
	cols := uint64(binary.BigEndian.Uint32(header[12:]))
	if count == 0 || rows == 0 || cols == 0 {
		return nil, 0, 0, 0, fmt.Errorf("header declares %d images of %dx%d: zero dimension: %w", count, rows, cols, ErrFormat)
	}
	if rows > maxImageSide || cols > maxImageSide {
		return nil, 0, 0, 0, fmt.Errorf("header declares %dx%d images, more than %d per side: %w", rows, cols, maxImageSide, ErrFormat)
	}
	size := count * rows * cols // No overflow: each factor < 2^32 and rows*cols <= 2^24.
	if size > maxPayloadBytes {
		return nil, 0, 0, 0, fmt.Errorf("header declares %d images of %dx%d (%d bytes), more than the %d-byte limit: %w",
			count, rows, cols, size, maxPayloadBytes, ErrFormat)
	}
	pixels, err = readPayload(r, int64(size), fmt.Sprintf("%d images of %dx%d", count, rows, cols))
	if err != nil {
		return nil, 0, 0, 0, err
	}
	return pixels, int(count), int(rows), int(cols), nil
}

// DecodeIDXLabels decodes an IDX1 label file (magic 0x00000801), gzip-compressed or raw.
//
// Errors wrap [ErrFormat] as for [DecodeIDXImages].
func DecodeIDXLabels(r io.Reader) ([]uint8, error) {
	r, err := maybeGunzip(r)
	if err != nil {
		return nil, err
	}
	var header [8]byte
	if err := readIDXHeader(r, header[:], idxLabelsMagic, "IDX labels"); err != nil {
		return nil, err
	}
	count := uint64(binary.BigEndian.Uint32(header[4:]))
	if count == 0 {
		return nil, fmt.Errorf("header declares 0 labels: %w", ErrFormat)
	}
	if count > maxPayloadBytes {
		return nil, fmt.Errorf("header declares %d labels, more than the %d limit: %w", count, maxPayloadBytes, ErrFormat)
	}
	return readPayload(r, int64(count), fmt.Sprintf("%d labels", count))
}

// ReadIDX reads a pair of IDX files (images and labels, each gzip-compressed or raw) into an
// [Images] with one channel. NumClasses is set to numClasses, or to the largest label plus one
// when numClasses is 0.
//
// Errors name the file at fault and wrap [ErrFormat]; an error opening a file wraps the
// [os.PathError] (test with [errors.Is] and [fs.ErrNotExist]).
func ReadIDX(name, imagesPath, labelsPath string, numClasses int) (*Images, error) {
	images, err := readFileLimited(imagesPath, maxPayloadBytes)
	if err != nil {
		return nil, err
	}
	labels, err := readFileLimited(labelsPath, maxPayloadBytes)
	if err != nil {
		return nil, err
	}
	return decodeIDXPair(name, numClasses, namedData{imagesPath, images}, namedData{labelsPath, labels})
}

// namedData is the content of a file, with its path for error messages.
type namedData struct {
	path string
	data []byte
}

// decodeIDXPair decodes an images file and a labels file into one Images; see [ReadIDX].
func decodeIDXPair(name string, numClasses int, images, labels namedData) (*Images, error) {
	pixels, n, h, w, err := DecodeIDXImages(bytes.NewReader(images.data))
	if err != nil {
		return nil, fmt.Errorf("datasets: %s: %w", images.path, err)
	}
	lbls, err := DecodeIDXLabels(bytes.NewReader(labels.data))
	if err != nil {
		return nil, fmt.Errorf("datasets: %s: %w", labels.path, err)
	}
	if len(lbls) != n {
		return nil, fmt.Errorf("datasets: %s has %d images but %s has %d labels: %w",
			images.path, n, labels.path, len(lbls), ErrFormat)
	}
	im := &Images{Name: name, Pixels: pixels, Labels: lbls, N: n, Height: h, Width: w, Channels: 1, NumClasses: numClasses}
	if numClasses == 0 {
		im.NumClasses = int(maxByte(lbls)) + 1
	}
	if err := im.checkLabels(); err != nil {
		return nil, fmt.Errorf("datasets: %s: %w", labels.path, err)
	}
	return im, nil
}

// maybeGunzip returns a reader of the decompressed stream when r starts with the gzip magic
// bytes, and a reader of r's bytes otherwise.
func maybeGunzip(r io.Reader) (io.Reader, error) {
	br := bufio.NewReader(r)
	magic, err := br.Peek(2)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("reading: %w", err)
	}
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("gzip: %v: %w", err, ErrFormat)
		}
		return &gzipErrReader{zr}, nil
	}
	return br, nil
}

// gzipErrReader marks errors of the gzip stream (corrupt data, bad CRC, truncation) as format
// errors. A clean end of stream stays io.EOF.
type gzipErrReader struct{ zr *gzip.Reader }

func (g *gzipErrReader) Read(p []byte) (int, error) {
	n, err := g.zr.Read(p)
	if err != nil && err != io.EOF {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			err = fmt.Errorf("gzip: truncated stream: %w", ErrFormat)
		} else {
			err = fmt.Errorf("gzip: %v: %w", err, ErrFormat)
		}
	}
	return n, err
}

// readIDXHeader fills header from r and checks that it starts with the magic number want.
// The magic number is checked first, so that a file of another kind is named as such even when
// it is shorter than the header.
func readIDXHeader(r io.Reader, header []byte, want uint32, what string) error {
	n, err := io.ReadFull(r, header[:4])
	if err == nil {
		if m := binary.BigEndian.Uint32(header); m != want {
			return fmt.Errorf("bad magic %#x, want %#x (%s): %w", m, want, what, ErrFormat)
		}
		var more int
		more, err = io.ReadFull(r, header[4:])
		n += more
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("truncated header: %d of %d bytes: %w", n, len(header), ErrFormat)
	default:
		return err
	}
}

// readPayload reads exactly size bytes and then expects the end of the stream. It allocates
// progressively, so that a header that lies about the size costs little memory before the data
// runs out. what describes the content for error messages.
func readPayload(r io.Reader, size int64, what string) ([]byte, error) {
	buf := make([]byte, 0, min(size, initialAlloc))
	for int64(len(buf)) < size {
		if len(buf) == cap(buf) {
			grown := make([]byte, len(buf), min(size, 2*int64(cap(buf))))
			copy(grown, buf)
			buf = grown
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) {
			if int64(len(buf)) < size {
				return nil, fmt.Errorf("truncated: header declares %s (%d bytes) but the data holds %d: %w",
					what, size, len(buf), ErrFormat)
			}
			break
		}
		if err != nil {
			return nil, err
		}
	}
	if err := expectEOF(r); err != nil {
		return nil, err
	}
	return buf, nil
}

// expectEOF checks that r has no more data. For a gzip stream, reaching the end also verifies
// its CRC.
func expectEOF(r io.Reader) error {
	var extra [1]byte
	for range 100 { // A reader may return (0, nil) now and then; not forever.
		n, err := r.Read(extra[:])
		if n > 0 {
			return fmt.Errorf("trailing data after the declared size: %w", ErrFormat)
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return fmt.Errorf("reader returns no data and no end of stream: %w", io.ErrNoProgress)
}

func maxByte(b []uint8) uint8 {
	var m uint8
	for _, v := range b {
		m = max(m, v)
	}
	return m
}
