package datasets

import (
	"bytes"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDecodeCIFAR10Batch(t *testing.T) {
	raw := cifarBatchBytes(3, 7)
	pixels, labels, err := DecodeCIFAR10Batch(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]uint8{7, 8, 9}, labels); diff != "" {
		t.Errorf("labels mismatch (-want +got):\n%s", diff)
	}
	if len(pixels) != 3*32*32*3 {
		t.Fatalf("len(pixels) = %d, want %d", len(pixels), 3*32*32*3)
	}
	// NHWC: pixel (i, y, x, c) comes from the file's plane c, row y, column x.
	for _, p := range []struct{ i, y, x, c int }{{0, 0, 0, 0}, {0, 0, 0, 2}, {1, 5, 7, 1}, {2, 31, 31, 2}, {2, 10, 0, 0}} {
		got := pixels[((p.i*32+p.y)*32+p.x)*3+p.c]
		want := byte(p.i + p.c*50 + p.y*3 + p.x)
		if got != want {
			t.Errorf("pixel %+v = %d, want %d", p, got, want)
		}
	}

	bad := bytes.Clone(raw)
	bad[cifarRecordSize] = 10 // Label of record 1.
	for _, tc := range []struct {
		name, wantErr string
		data          []byte
	}{
		{"empty", "empty batch", nil},
		{"truncated record", "size 9218 is not a multiple of the 3073-byte record (2 whole records and 3072 bytes): truncated record", raw[:len(raw)-1]},
		{"extra byte", "(3 whole records and 1 bytes)", append(bytes.Clone(raw), 0)},
		{"label 10", "record 1: label 10 is not below 10", bad},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := DecodeCIFAR10Batch(bytes.NewReader(tc.data))
			if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("err = %v, want ErrFormat containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestReadCIFAR10(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.bin"), filepath.Join(dir, "b.bin")
	writeFile(t, a, cifarBatchBytes(2, 0))
	writeFile(t, b, cifarBatchBytes(3, 5))
	im, err := ReadCIFAR10("toy", a, b)
	if err != nil {
		t.Fatal(err)
	}
	if err := im.Validate(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]uint8{0, 1, 5, 6, 7}, im.Labels); diff != "" {
		t.Errorf("labels mismatch (-want +got):\n%s", diff)
	}
	if got, want := im.Image(2)[0], byte(0); got != want { // First pixel of b's first image.
		t.Errorf("image 2 pixel 0 = %d, want %d", got, want)
	}

	short := filepath.Join(dir, "short.bin")
	writeFile(t, short, cifarBatchBytes(1, 0)[:100])
	_, err = ReadCIFAR10("toy", a, short)
	if !errors.Is(err, ErrFormat) || !strings.HasPrefix(err.Error(), "datasets: "+short+": size 100") {
		t.Errorf("err = %v, want ErrFormat naming %s", err, short)
	}
	if _, err := ReadCIFAR10("toy"); err == nil {
		t.Error("ReadCIFAR10 with no files succeeded")
	}
}
