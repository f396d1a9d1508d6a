package datasets

import (
	"archive/tar"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestExtractTarGz(t *testing.T) {
	base := t.TempDir()
	archive := filepath.Join(base, "a.tar.gz")
	writeFile(t, archive, tarGz(t,
		tarEntry{name: "top/", typeflag: tar.TypeDir},
		tarEntry{name: "top/x.bin", body: []byte("hello")},
		tarEntry{name: "top/sub/y.bin", body: []byte("world")}, // Parent not listed.
		tarEntry{name: "./z.txt", body: []byte("z")},
	))
	dir := filepath.Join(base, "out")
	if err := ExtractTarGz(archive, dir); err != nil {
		t.Fatal(err)
	}
	got := listFiles(t, dir)
	slices.Sort(got)
	want := []string{"top/sub/y.bin", "top/x.bin", "z.txt"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("extracted files mismatch (-want +got):\n%s", diff)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "top", "sub", "y.bin")); string(data) != "world" {
		t.Errorf("y.bin = %q, want %q", data, "world")
	}
}

func TestExtractTarGzRefusesUnsafeEntries(t *testing.T) {
	tests := []struct {
		name    string
		entry   tarEntry
		wantErr string
	}{
		{"parent", tarEntry{name: "../evil.txt", body: []byte("x")}, `entry "../evil.txt" leaves the target directory`},
		{"nested parent", tarEntry{name: "a/../../evil.txt", body: []byte("x")}, "leaves the target directory"},
		{"absolute", tarEntry{name: "/tmp/evil.txt", body: []byte("x")}, `entry "/tmp/evil.txt" leaves the target directory`},
		{"symlink", tarEntry{name: "link", typeflag: tar.TypeSymlink, linkname: "/etc"}, `entry "link" is a link to "/etc"`},
		{"relative symlink", tarEntry{name: "link", typeflag: tar.TypeSymlink, linkname: "../.."}, "is a link"},
		{"hard link", tarEntry{name: "hard", typeflag: tar.TypeLink, linkname: "/etc/passwd"}, "is a link"},
		{"device", tarEntry{name: "dev", typeflag: tar.TypeChar}, "not a file or directory"},
		{"fifo", tarEntry{name: "fifo", typeflag: tar.TypeFifo}, "not a file or directory"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			base := t.TempDir()
			archive := filepath.Join(base, "a.tar.gz")
			// A harmless file first: extraction stops at the unsafe entry that follows.
			writeFile(t, archive, tarGz(t, tarEntry{name: "ok.txt", body: []byte("ok")}, tc.entry))
			dir := filepath.Join(base, "out", "target")
			err := ExtractTarGz(archive, dir)
			if !errors.Is(err, ErrUnsafePath) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want ErrUnsafePath containing %q", err, tc.wantErr)
			}
			if !strings.Contains(err.Error(), archive) {
				t.Errorf("error %q does not name the archive", err)
			}
			// Nothing may appear outside the target directory.
			got := listFiles(t, base)
			slices.Sort(got)
			want := []string{"a.tar.gz", filepath.Join("out", "target", "ok.txt")}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("files under the test directory (-want +got):\n%s", diff)
			}
		})
	}
}

// TestExtractTarGzExistingSymlink checks that a link already inside the target directory does
// not lead extraction outside it.
func TestExtractTarGzExistingSymlink(t *testing.T) {
	base := t.TempDir()
	outside := filepath.Join(base, "outside")
	dir := filepath.Join(base, "target")
	if err := os.MkdirAll(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "escape")); err != nil {
		t.Skipf("cannot create symlink: %v", err)
	}
	archive := filepath.Join(base, "a.tar.gz")
	writeFile(t, archive, tarGz(t, tarEntry{name: "escape/evil.txt", body: []byte("x")}))
	if err := ExtractTarGz(archive, dir); err == nil {
		t.Error("extraction through an existing symlink succeeded")
	}
	if got := listFiles(t, outside); len(got) != 0 {
		t.Errorf("files written outside the target: %v", got)
	}
}

func TestExtractTarGzCorrupt(t *testing.T) {
	base := t.TempDir()
	data := cifarArchive(t, 2)
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"truncated", data[:len(data)/2]},
		{"not gzip", []byte("this is not an archive, just text that is long enough to be read")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			archive := filepath.Join(base, tc.name+".tar.gz")
			writeFile(t, archive, tc.data)
			err := ExtractTarGz(archive, filepath.Join(base, tc.name))
			if !errors.Is(err, ErrFormat) {
				t.Errorf("err = %v, want ErrFormat", err)
			}
		})
	}
}
