package datasets

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
)

// isolateEnv clears the environment variables Load reads, so that a developer's settings do not
// leak into a test.
func isolateEnv(t *testing.T) {
	t.Helper()
	for _, k := range []string{EnvData, EnvCache, EnvNoDownload} {
		t.Setenv(k, "")
	}
}

// idxImages encodes n images of h×w in IDX3 format; pixel j of image i is byte(i*7+j).
func idxImages(n, h, w int) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, []uint32{idxImagesMagic, uint32(n), uint32(h), uint32(w)})
	for i := range n {
		for j := range h * w {
			b.WriteByte(byte(i*7 + j))
		}
	}
	return b.Bytes()
}

// idxLabels encodes n labels in IDX1 format: label i is i%classes.
func idxLabels(n, classes int) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, []uint32{idxLabelsMagic, uint32(n)})
	for i := range n {
		b.WriteByte(byte(i % classes))
	}
	return b.Bytes()
}

// idxHeader encodes only a header: magic and dimensions.
func idxHeader(dims ...uint32) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, dims)
	return b.Bytes()
}

// cifarBatchBytes encodes n CIFAR-10 records: label (first+i)%10, and for channel c, row y,
// column x the byte (i + c*50 + y*3 + x) % 256.
func cifarBatchBytes(n, first int) []byte {
	var b bytes.Buffer
	for i := range n {
		b.WriteByte(byte((first + i) % 10))
		for c := range 3 {
			for y := range 32 {
				for x := range 32 {
					b.WriteByte(byte(i + c*50 + y*3 + x))
				}
			}
		}
	}
	return b.Bytes()
}

func gzipBytes(t testing.TB, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// tarEntry is one entry of a test archive.
type tarEntry struct {
	name     string
	typeflag byte
	body     []byte
	linkname string
}

// tarGz builds a gzip-compressed tar archive.
func tarGz(t testing.TB, entries ...tarEntry) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, Typeflag: e.typeflag, Mode: 0o644, Size: int64(len(e.body)), Linkname: e.linkname}
		if e.typeflag == 0 {
			hdr.Typeflag = tar.TypeReg
		}
		if hdr.Typeflag != tar.TypeReg {
			hdr.Size = 0
		}
		if hdr.Typeflag == tar.TypeDir {
			hdr.Mode = 0o755
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if hdr.Size > 0 {
			if _, err := tw.Write(e.body); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// cifarArchive builds an archive like cifar-10-binary.tar.gz with n records per batch.
func cifarArchive(t testing.TB, n int) []byte {
	entries := []tarEntry{{name: "cifar-10-batches-bin/", typeflag: tar.TypeDir}}
	for i, name := range []string{"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin"} {
		entries = append(entries, tarEntry{name: "cifar-10-batches-bin/" + name, body: cifarBatchBytes(n, i)})
	}
	entries = append(entries, tarEntry{name: "cifar-10-batches-bin/batches.meta.txt", body: []byte("airplane\n")})
	return tarGz(t, entries...)
}

func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeIDXSet writes a small MNIST-like set (train n, test n/2 images of 4×3) into dir, gzip-
// compressed when gz is set, and returns the file contents by name.
func writeIDXSet(t testing.TB, dir string, n int, gz bool) map[string][]byte {
	t.Helper()
	files := map[string][]byte{
		"train-images-idx3-ubyte": idxImages(n, 4, 3),
		"train-labels-idx1-ubyte": idxLabels(n, 10),
		"t10k-images-idx3-ubyte":  idxImages(n/2, 4, 3),
		"t10k-labels-idx1-ubyte":  idxLabels(n/2, 10),
	}
	out := map[string][]byte{}
	for name, data := range files {
		if gz {
			name, data = name+".gz", gzipBytes(t, data)
		}
		writeFile(t, filepath.Join(dir, name), data)
		out[name] = data
	}
	return out
}

func sha256Hex(data []byte) string {
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}

// listFiles returns the relative paths of all files under dir.
func listFiles(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	return out
}
