package datasets

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
)

// maxExtractBytes bounds what [ExtractTarGz] writes in total (CIFAR-10 unpacks to 185 MB).
const maxExtractBytes = 4 << 30

// ExtractTarGz extracts the gzip-compressed tar archive at archivePath into dir, creating dir if
// needed. It accepts directories and regular files whose names are local paths
// ([filepath.IsLocal]); an absolute name, a ".." element, a symbolic or hard link or a special
// file stops it with an error wrapping [ErrUnsafePath] before anything of that entry is written.
// Files are written through an [os.Root], so even a link already inside dir cannot lead outside
// it, with modes 0644 and 0755 whatever the archive says. Each file is written under a temporary
// name and renamed when complete. At most 4 GiB are written.
//
// A corrupt or truncated archive gives an error wrapping [ErrFormat]. Entries extracted before
// an error stay in dir.
func ExtractTarGz(archivePath, dir string) error {
	f, err := os.Open(archivePath)
	if err != nil {
		return fmt.Errorf("datasets: %w", err)
	}
	defer f.Close()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("datasets: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("datasets: %w", err)
	}
	defer root.Close()
	var written int64
	err = walkTarGz(f, func(name string, hdr *tar.Header, r io.Reader) error {
		if hdr.Typeflag == tar.TypeDir {
			return root.MkdirAll(name, 0o755)
		}
		if written+hdr.Size > maxExtractBytes {
			return fmt.Errorf("entry %q: archive unpacks to more than %d bytes: %w", hdr.Name, int64(maxExtractBytes), ErrFormat)
		}
		written += hdr.Size
		if d := filepath.Dir(name); d != "." {
			if err := root.MkdirAll(d, 0o755); err != nil {
				return err
			}
		}
		return writeRootFile(root, name, r)
	})
	if err != nil {
		return fmt.Errorf("datasets: %s: %w", archivePath, err)
	}
	return nil
}

// writeRootFile writes r to name inside root under a temporary name, then renames it.
func writeRootFile(root *os.Root, name string, r io.Reader) (err error) {
	tmp := name + ".partial"
	out, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			out.Close()
			root.Remove(tmp)
		}
	}()
	if _, err = io.Copy(out, r); err != nil {
		return err
	}
	if err = out.Close(); err != nil {
		return err
	}
	return root.Rename(tmp, name)
}

// walkTarGz calls fn for each directory and regular file of the gzip-compressed tar stream r,
// with the entry's cleaned local name. It stops at the first unsafe entry (see [ExtractTarGz]),
// at a corrupt stream, or when fn fails. PAX global headers are skipped.
func walkTarGz(r io.Reader, fn func(name string, hdr *tar.Header, r io.Reader) error) error {
	zr, err := maybeGunzip(r)
	if err != nil {
		return err
	}
	tr := tar.NewReader(zr)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			if errors.Is(err, ErrFormat) {
				return err
			}
			return fmt.Errorf("tar: %v: %w", err, ErrFormat)
		}
		if hdr.Typeflag == tar.TypeXGlobalHeader {
			continue
		}
		name, err := localName(hdr.Name)
		if err != nil {
			return err
		}
		switch hdr.Typeflag {
		case tar.TypeDir, tar.TypeReg:
		case tar.TypeSymlink, tar.TypeLink:
			return fmt.Errorf("entry %q is a link to %q: %w", hdr.Name, hdr.Linkname, ErrUnsafePath)
		default:
			return fmt.Errorf("entry %q has type %q, not a file or directory: %w", hdr.Name, hdr.Typeflag, ErrUnsafePath)
		}
		if err := fn(name, hdr, tr); err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return fmt.Errorf("entry %q: truncated archive: %w", hdr.Name, ErrFormat)
			}
			return err
		}
	}
}

// localName converts a tar entry name to a local path, refusing absolute names and ".." elements
// (on any operating system: the checks run on the slash-separated name and on the local one).
func localName(name string) (string, error) {
	if name == "" || path.IsAbs(name) || !filepath.IsLocal(filepath.FromSlash(name)) {
		return "", fmt.Errorf("entry %q leaves the target directory: %w", name, ErrUnsafePath)
	}
	return filepath.Clean(filepath.FromSlash(name)), nil
}
