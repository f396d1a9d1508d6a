package datasets

import "errors"

// Sentinel errors. Errors returned by this package wrap one of these (test with [errors.Is]) and
// add the file, URL or source at fault.
var (
	// ErrFormat reports a malformed file: bad magic number, truncated data, trailing data, a header
	// whose sizes exceed the data or a sane limit, a corrupt gzip stream, labels out of range, or
	// image and label counts that disagree.
	ErrFormat = errors.New("invalid format")

	// ErrChecksum reports a file whose SHA-256 differs from the known value for it.
	ErrChecksum = errors.New("checksum mismatch")

	// ErrNotFound reports that no source could provide a data set. The error lists what was tried.
	ErrNotFound = errors.New("not found")

	// ErrUnsafePath reports an archive entry that would be written outside the target directory:
	// an absolute path, a path with "..", a symbolic or hard link, or a special file.
	ErrUnsafePath = errors.New("unsafe path in archive")

	// ErrUnknownDataset reports a data set name that [Load] does not know; the error lists the
	// known names.
	ErrUnknownDataset = errors.New("unknown dataset")
)
