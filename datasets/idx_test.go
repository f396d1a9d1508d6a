package datasets

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDecodeIDXImages(t *testing.T) {
	good := idxImages(3, 4, 5)
	gz := gzipBytes(t, good)
	corrupt := bytes.Clone(gz)
	for i := 12; i < len(corrupt)-8; i++ { // Scramble the deflate data, keep the gzip header.
		corrupt[i] ^= 0x5a
	}
	badCRC := bytes.Clone(gz)
	badCRC[len(badCRC)-8] ^= 0xff // The CRC-32 is in the 8-byte trailer.

	tests := []struct {
		name    string
		data    []byte
		wantErr string // Substring of the error; "" means success.
	}{
		{"raw", good, ""},
		{"gzip", gz, ""},
		{"empty", nil, "truncated header: 0 of 16 bytes"},
		{"short header", good[:10], "truncated header: 10 of 16 bytes"},
		{"labels magic", idxLabels(3, 10), "bad magic 0x801, want 0x803"},
		{"bad magic", append(idxHeader(0x0804, 3, 4, 5), make([]byte, 60)...), "bad magic 0x804, want 0x803"},
		{"truncated data", good[:len(good)-1], "truncated: header declares 3 images of 4x5 (60 bytes) but the data holds 59"},
		{"trailing data", append(bytes.Clone(good), 0), "trailing data"},
		{"zero images", idxHeader(idxImagesMagic, 0, 4, 5), "zero dimension"},
		{"zero rows", idxHeader(idxImagesMagic, 3, 0, 5), "zero dimension"},
		{"huge side", idxHeader(idxImagesMagic, 1, 1<<13, 1), "more than 4096 per side"},
		{"2^31 images", idxHeader(idxImagesMagic, 1<<31, 28, 28), "more than the 1073741824-byte limit"},
		{"gzip truncated", gz[:len(gz)/2], "gzip: truncated stream"},
		{"gzip corrupt", corrupt, "gzip: "},
		{"gzip bad crc", badCRC, "gzip: gzip: invalid checksum"},
		{"gzip header only", gz[:5], "gzip: "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pixels, n, h, w, err := DecodeIDXImages(bytes.NewReader(tc.data))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("DecodeIDXImages: %v", err)
				}
				if diff := cmp.Diff([]int{3, 4, 5}, []int{n, h, w}); diff != "" {
					t.Errorf("n, h, w mismatch (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(good[16:], pixels); diff != "" {
					t.Errorf("pixels mismatch (-want +got):\n%s", diff)
				}
				return
			}
			if err == nil {
				t.Fatalf("DecodeIDXImages succeeded, want error containing %q", tc.wantErr)
			}
			if !errors.Is(err, ErrFormat) {
				t.Errorf("error %q does not wrap ErrFormat", err)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %q does not contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestDecodeIDXLabels(t *testing.T) {
	good := idxLabels(25, 10)
	tests := []struct {
		name, wantErr string
		data          []byte
	}{
		{"raw", "", good},
		{"gzip", "", gzipBytes(t, good)},
		{"images magic", "bad magic 0x803, want 0x801", idxImages(1, 1, 1)},
		{"short header", "truncated header: 4 of 8 bytes", good[:4]},
		{"truncated", "header declares 25 labels (25 bytes) but the data holds 20", good[:28]},
		{"trailing", "trailing data", append(bytes.Clone(good), 1, 2)},
		{"zero", "0 labels", idxHeader(idxLabelsMagic, 0)},
		{"2^31 labels", "more than the 1073741824 limit", idxHeader(idxLabelsMagic, 1<<31)},
		{"lying 2^29", "holds 3", append(idxHeader(idxLabelsMagic, 1<<29), 1, 2, 3)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			labels, err := DecodeIDXLabels(bytes.NewReader(tc.data))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(good[8:], labels); diff != "" {
					t.Errorf("labels mismatch (-want +got):\n%s", diff)
				}
				return
			}
			if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %v, want ErrFormat containing %q", err, tc.wantErr)
			}
		})
	}
}

// TestLyingHeaderAllocation checks that a header claiming far more data than the file holds
// costs a bounded allocation (the progressive read), not the declared size.
func TestLyingHeaderAllocation(t *testing.T) {
	data := append(idxHeader(idxImagesMagic, 1<<20, 32, 32), make([]byte, 100)...) // Declares 1 GiB.
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, _, _, _, err := DecodeIDXImages(bytes.NewReader(data))
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrFormat) {
		t.Fatalf("err = %v, want ErrFormat", err)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 8<<20 {
		t.Errorf("decoding a lying 1 GiB header allocated %d bytes, want < 8 MiB", got)
	}
}

func TestReadIDX(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		writeFile(t, p, data)
		return p
	}
	images := write("images.gz", gzipBytes(t, idxImages(12, 2, 2)))
	labels := write("labels", idxLabels(12, 4))

	t.Run("good", func(t *testing.T) {
		im, err := ReadIDX("toy", images, labels, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := im.Validate(); err != nil {
			t.Fatal(err)
		}
		want := []int{12, 2, 2, 1, 4}
		if diff := cmp.Diff(want, []int{im.N, im.Height, im.Width, im.Channels, im.NumClasses}); diff != "" {
			t.Errorf("N, H, W, C, NumClasses mismatch (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]int{3, 3, 3, 3}, im.ClassCounts()); diff != "" {
			t.Errorf("ClassCounts mismatch (-want +got):\n%s", diff)
		}
	})
	t.Run("count mismatch", func(t *testing.T) {
		few := write("few-labels", idxLabels(11, 4))
		_, err := ReadIDX("toy", images, few, 10)
		if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "has 12 images but "+few+" has 11 labels") {
			t.Errorf("err = %v, want ErrFormat naming both files and counts", err)
		}
	})
	t.Run("label out of range", func(t *testing.T) {
		_, err := ReadIDX("toy", images, labels, 3)
		if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), labels+": label 3 of image 3 is not below NumClasses=3") {
			t.Errorf("err = %v, want ErrFormat naming the label file", err)
		}
	})
	t.Run("bad magic names file", func(t *testing.T) {
		_, err := ReadIDX("toy", labels, labels, 10)
		if want := "datasets: " + labels + ": bad magic 0x801, want 0x803"; err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("err = %v, want prefix %q", err, want)
		}
	})
	t.Run("missing file", func(t *testing.T) {
		_, err := ReadIDX("toy", filepath.Join(dir, "nope"), labels, 10)
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("err = %v, want fs.ErrNotExist", err)
		}
	})
	t.Run("directory", func(t *testing.T) {
		_, err := ReadIDX("toy", dir, labels, 10)
		if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("err = %v, want ErrFormat: not a regular file", err)
		}
	})
	_ = os.Remove
}
