package pruning

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
)

// maskFileFormat and maskFileVersion identify the mask file format written by [EncodeMasks].
const (
	maskFileFormat  = "prunelab-masks"
	maskFileVersion = 1
)

// maskFile is the JSON document written by EncodeMasks:
//
//	{"format": "prunelab-masks", "version": 1, "masks": [
//	  {"path": "/fc0/dense/weights", "shape": [784, 300], "kept": 47040,
//	   "bits": "<base64 of the row-major mask packed 8 entries per byte, least significant bit first>",
//	   "crc32c": <CRC-32C (Castagnoli) of path, shape and packed bytes, see maskChecksum>}]}
//
// Masks are sorted by path. Unused bits of the last byte are zero.
type maskFile struct {
	Format  string          `json:"format"`
	Version int             `json:"version"`
	Masks   []maskFileEntry `json:"masks"`
}

type maskFileEntry struct {
	Path   string `json:"path"`
	Shape  []int  `json:"shape"`
	Kept   int    `json:"kept"`
	Bits   string `json:"bits"`
	CRC32C uint32 `json:"crc32c"`
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// maskChecksum is the CRC-32C of the path, a NUL, the dimensions as decimal text each followed
// by a comma, a NUL, and the packed bits.
func maskChecksum(path string, shape []int, bits []byte) uint32 {
	h := crc32.New(castagnoli)
	_, _ = h.Write([]byte(path))
	_, _ = h.Write([]byte{0})
	for _, d := range shape {
		_, _ = fmt.Fprintf(h, "%d,", d)
	}
	_, _ = h.Write([]byte{0})
	_, _ = h.Write(bits)
	return h.Sum32()
}

func packBits(keep []bool) []byte {
	b := make([]byte, (len(keep)+7)/8)
	for i, k := range keep {
		if k {
			b[i/8] |= 1 << (i % 8)
		}
	}
	return b
}

// EncodeMasks writes the masks to w in Prunelab's mask file format, JSON with bit-packed,
// base64-encoded, checksummed masks (see [DecodeMasks]).
func EncodeMasks(w io.Writer, set MaskSet) error {
	if err := set.Validate(); err != nil {
		return err
	}
	f := maskFile{Format: maskFileFormat, Version: maskFileVersion, Masks: []maskFileEntry{}}
	for _, p := range set.Paths() {
		m := set[p]
		bits := packBits(m.Keep)
		f.Masks = append(f.Masks, maskFileEntry{
			Path: p, Shape: slices.Clone(m.Shape), Kept: m.NumKept(),
			Bits: base64.StdEncoding.EncodeToString(bits), CRC32C: maskChecksum(p, m.Shape, bits),
		})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	return enc.Encode(f)
}

// DecodeMasks reads masks written by [EncodeMasks], verifying format, version, shapes,
// checksums and kept counts; any mismatch is an [ErrInvalidMask].
func DecodeMasks(r io.Reader) (MaskSet, error) {
	var f maskFile
	dec := json.NewDecoder(r)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidMask, err)
	}
	if f.Format != maskFileFormat {
		return nil, fmt.Errorf("%w: format %q, want %q", ErrInvalidMask, f.Format, maskFileFormat)
	}
	if f.Version != maskFileVersion {
		return nil, fmt.Errorf("%w: unsupported version %d", ErrInvalidMask, f.Version)
	}
	set := make(MaskSet, len(f.Masks))
	for _, e := range f.Masks {
		if _, dup := set[e.Path]; dup {
			return nil, fmt.Errorf("%w: %s: duplicate path", ErrInvalidMask, e.Path)
		}
		bits, err := base64.StdEncoding.DecodeString(e.Bits)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrInvalidMask, e.Path, err)
		}
		if sum := maskChecksum(e.Path, e.Shape, bits); sum != e.CRC32C {
			return nil, fmt.Errorf("%w: %s: checksum %#x, want %#x", ErrInvalidMask, e.Path, sum, e.CRC32C)
		}
		n := 1
		for _, d := range e.Shape {
			if d < 0 {
				return nil, fmt.Errorf("%w: %s: shape %v", ErrInvalidMask, e.Path, e.Shape)
			}
			n *= d
		}
		if len(bits) != (n+7)/8 {
			return nil, fmt.Errorf("%w: %s: %d bytes for %d entries", ErrInvalidMask, e.Path, len(bits), n)
		}
		m := &Mask{Shape: slices.Clone(e.Shape), Keep: make([]bool, n)}
		for i := range m.Keep {
			m.Keep[i] = bits[i/8]&(1<<(i%8)) != 0
		}
		if n%8 != 0 && bits[len(bits)-1]>>(n%8) != 0 {
			return nil, fmt.Errorf("%w: %s: non-zero padding bits", ErrInvalidMask, e.Path)
		}
		if kept := m.NumKept(); kept != e.Kept {
			return nil, fmt.Errorf("%w: %s: %d kept entries, header says %d", ErrInvalidMask, e.Path, kept, e.Kept)
		}
		set[e.Path] = m
	}
	return set, nil
}

// SaveMasks writes the masks to a file atomically: to a temporary file in the same directory,
// synced, then renamed over path.
func SaveMasks(path string, set MaskSet) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("pruning: saving masks: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if err = EncodeMasks(tmp, set); err != nil {
		return fmt.Errorf("pruning: saving masks to %s: %w", path, err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("pruning: saving masks to %s: %w", path, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("pruning: saving masks to %s: %w", path, err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("pruning: saving masks to %s: %w", path, err)
	}
	return nil
}

// LoadMasks reads a mask file written by [SaveMasks].
func LoadMasks(path string) (MaskSet, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("pruning: %w", err)
	}
	defer f.Close()
	set, err := DecodeMasks(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return set, nil
}

// MaskDistance compares two masks of the same variable. "Kept" sets are the positions with mask 1.
type MaskDistance struct {
	Path string `json:"path"`
	Size int    `json:"size"`
	// KeptA and KeptB count the kept entries of each mask; KeptBoth those kept in both.
	KeptA    int `json:"kept_a"`
	KeptB    int `json:"kept_b"`
	KeptBoth int `json:"kept_both"`
	// Hamming counts the positions where the masks differ.
	Hamming int `json:"hamming"`
	// Jaccard is |A∩B|/|A∪B| of the kept sets (1 when both are empty).
	Jaccard float64 `json:"jaccard"`
	// Overlap is |A∩B|/min(|A|,|B|), the overlap coefficient of the kept sets (1 when either is
	// empty): the fraction of the smaller ticket found in the other.
	Overlap float64 `json:"overlap"`
}

func (d *MaskDistance) finish() {
	union := d.KeptA + d.KeptB - d.KeptBoth
	d.Jaccard = 1
	if union > 0 {
		d.Jaccard = float64(d.KeptBoth) / float64(union)
	}
	d.Overlap = 1
	if mn := min(d.KeptA, d.KeptB); mn > 0 {
		d.Overlap = float64(d.KeptBoth) / float64(mn)
	}
}

// MaskComparison holds per-variable and total distances between two mask sets.
type MaskComparison struct {
	Layers []MaskDistance `json:"layers"`
	Total  MaskDistance   `json:"total"`
}

// CompareMasks compares two mask sets over the same variables and shapes (an [ErrInvalidMask]
// otherwise). Layers are sorted by path; Total aggregates the counts over all of them.
func CompareMasks(a, b MaskSet) (*MaskComparison, error) {
	if err := a.Validate(); err != nil {
		return nil, err
	}
	if err := b.Validate(); err != nil {
		return nil, err
	}
	if !slices.Equal(a.Paths(), b.Paths()) {
		return nil, fmt.Errorf("%w: comparing masks of different variables: %v vs %v", ErrInvalidMask,
			a.Paths(), b.Paths())
	}
	c := &MaskComparison{Total: MaskDistance{Path: "total"}}
	for _, p := range a.Paths() {
		ma, mb := a[p], b[p]
		if !slices.Equal(ma.Shape, mb.Shape) {
			return nil, fmt.Errorf("%w: %s: shapes %v and %v", ErrInvalidMask, p, ma.Shape, mb.Shape)
		}
		d := MaskDistance{Path: p, Size: ma.Size()}
		for i, ka := range ma.Keep {
			kb := mb.Keep[i]
			if ka {
				d.KeptA++
			}
			if kb {
				d.KeptB++
			}
			if ka && kb {
				d.KeptBoth++
			}
			if ka != kb {
				d.Hamming++
			}
		}
		d.finish()
		c.Layers = append(c.Layers, d)
		c.Total.Size += d.Size
		c.Total.KeptA += d.KeptA
		c.Total.KeptB += d.KeptB
		c.Total.KeptBoth += d.KeptBoth
		c.Total.Hamming += d.Hamming
	}
	c.Total.finish()
	return c, nil
}
