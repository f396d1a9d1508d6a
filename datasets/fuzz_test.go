package datasets

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// The fuzz tests check that the decoders never panic, that every failure wraps ErrFormat, and
// that whatever they accept is consistent: the declared sizes match the data.

func FuzzDecodeIDXImages(f *testing.F) {
	f.Add(idxImages(2, 3, 4))
	f.Add(gzipBytes(f, idxImages(1, 28, 28)))
	f.Add(idxHeader(idxImagesMagic, 1<<31, 28, 28))
	f.Add(idxLabels(3, 10))
	f.Add([]byte{0x1f, 0x8b})
	f.Fuzz(func(t *testing.T, data []byte) {
		pixels, n, h, w, err := DecodeIDXImages(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error %v does not wrap ErrFormat", err)
			}
			return
		}
		if n <= 0 || h <= 0 || w <= 0 || len(pixels) != n*h*w {
			t.Fatalf("accepted %d images of %dx%d with %d pixel bytes", n, h, w, len(pixels))
		}
		raw := data
		if len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b {
			return // The header is inside the compressed stream.
		}
		if got := binary.BigEndian.Uint32(raw[4:]); int(got) != n || len(raw) != 16+n*h*w {
			t.Fatalf("accepted a raw file of %d bytes declaring %d images of %dx%d", len(raw), got, h, w)
		}
	})
}

func FuzzDecodeIDXLabels(f *testing.F) {
	f.Add(idxLabels(5, 10))
	f.Add(gzipBytes(f, idxLabels(60, 10)))
	f.Add(idxHeader(idxLabelsMagic, 1<<31))
	f.Add(idxImages(1, 1, 1))
	f.Fuzz(func(t *testing.T, data []byte) {
		labels, err := DecodeIDXLabels(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error %v does not wrap ErrFormat", err)
			}
			return
		}
		if len(labels) == 0 {
			t.Fatal("accepted a file with no labels")
		}
		if len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b {
			return
		}
		if int(binary.BigEndian.Uint32(data[4:])) != len(labels) || len(data) != 8+len(labels) {
			t.Fatalf("accepted a raw file of %d bytes with %d labels", len(data), len(labels))
		}
	})
}

func FuzzDecodeCIFAR10Batch(f *testing.F) {
	f.Add(cifarBatchBytes(1, 3))
	f.Add(cifarBatchBytes(2, 9)[:cifarRecordSize+10])
	f.Add([]byte{10})
	f.Fuzz(func(t *testing.T, data []byte) {
		pixels, labels, err := DecodeCIFAR10Batch(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error %v does not wrap ErrFormat", err)
			}
			return
		}
		n := len(labels)
		if n == 0 || len(data) != n*cifarRecordSize || len(pixels) != n*cifarImageBytes {
			t.Fatalf("accepted %d bytes as %d records with %d pixel bytes", len(data), n, len(pixels))
		}
		im := &Images{Pixels: pixels, Labels: labels, N: n, Height: 32, Width: 32, Channels: 3, NumClasses: 10}
		if err := im.Validate(); err != nil {
			t.Fatal(err)
		}
		// Spot-check the CHW to HWC conversion on the last byte of each record.
		for i := range n {
			if got, want := im.Image(i)[cifarImageBytes-1], data[(i+1)*cifarRecordSize-1]; got != want {
				t.Fatalf("record %d: last blue byte %d, want %d", i, got, want)
			}
		}
	})
}
