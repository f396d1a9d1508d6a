package export

import (
	"bytes"
	"compress/flate"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"

	"github.com/prunelab/prunelab/program"
	"github.com/prunelab/prunelab/quantize"
)

// Magic opens every export file; FormatVersion is the version this package writes and reads.
const (
	Magic         = "PRUNELAB"
	FormatVersion = 1
)

// Sentinel errors of [Read], wrapped with details.
var (
	// ErrFormat: the file is not an export file, is truncated, or is malformed.
	ErrFormat = errors.New("export: malformed file")
	// ErrChecksum: the file's SHA-256 does not match its content (corrupted or tampered with).
	ErrChecksum = errors.New("export: checksum mismatch")
	// ErrTooLarge: the file declares more data than the reader's limits allow.
	ErrTooLarge = errors.New("export: file exceeds limits")
)

// Flags of the file header.
const flagDeflate = 1

// Tensor encodings.
const (
	encDenseF32  = 0
	encSparseF32 = 1
	encDenseI8   = 2
	encSparseI8  = 3
)

// Index codings of sparse tensors.
const (
	idxBitmap = 0
	idxGaps   = 1
)

// EncodingName names a tensor encoding, as reported in [TensorStats].
func EncodingName(enc int) string {
	switch enc {
	case encDenseF32:
		return "dense-f32"
	case encSparseF32:
		return "sparse-f32"
	case encDenseI8:
		return "dense-int8"
	case encSparseI8:
		return "sparse-int8"
	}
	return fmt.Sprintf("encoding-%d", enc)
}

const headerSize = 8 + 2 + 2 + 8 + 8 // magic, version, flags, raw length, body length

// Meta is free-form metadata stored in the file as JSON (model name, dataset, accuracy...).
type Meta map[string]string

// Options configure [Write]. The zero value stores every variable as float32, sparse where that is
// smaller, and compresses the body with DEFLATE at the best compression level.
type Options struct {
	// Quantized holds INT8 versions of variables (from quantize.Calibrate); those variables are
	// stored as int8 values with per-channel scales instead of float32.
	Quantized map[string]*quantize.Tensor
	// NoCompression stores the body without DEFLATE.
	NoCompression bool
	// Dense stores every tensor densely (no sparse index): the baseline the sizes are compared with.
	Dense bool
	// Meta is stored with the model.
	Meta Meta
}

// TensorStats describes how one variable was stored.
type TensorStats struct {
	Path     string `json:"path"`
	Elements int    `json:"elements"`
	NonZero  int    `json:"nonzero"`
	Encoding string `json:"encoding"`
	Index    string `json:"index,omitempty"` // "bitmap" or "gaps" for sparse encodings
	// Bytes is the uncompressed size of its index, scales and values.
	Bytes int `json:"bytes"`
}

// Stats describes a written file.
type Stats struct {
	Params int `json:"params"`
	// DenseBytes is 4 bytes per parameter: the float32 model.
	DenseBytes int `json:"dense_bytes"`
	// RawBytes is the body before compression; FileBytes the whole file.
	RawBytes  int           `json:"raw_bytes"`
	FileBytes int           `json:"file_bytes"`
	Tensors   []TensorStats `json:"tensors"`
}

// Write stores the program p and its variable values (float32, keyed by path) in w, in the format
// of docs/FORMAT.md, and returns what it wrote. Variables in opts.Quantized are stored as INT8.
func Write(w io.Writer, p *program.Program, values map[string][]float32, opts Options) (*Stats, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	var progJSON bytes.Buffer
	if err := p.Encode(&progJSON); err != nil {
		return nil, fmt.Errorf("export: encoding the program: %w", err)
	}
	metaJSON, err := json.Marshal(opts.Meta)
	if err != nil {
		return nil, fmt.Errorf("export: encoding metadata: %w", err)
	}
	var headers, index, scales, vals bytes.Buffer
	st := &Stats{}
	le := binary.LittleEndian
	for _, v := range p.Variables {
		data, ok := values[v.Path]
		if !ok {
			return nil, fmt.Errorf("export: no values for variable %s", v.Path)
		}
		n := elements(v.Dims)
		if len(data) != n {
			return nil, fmt.Errorf("export: variable %s has %d values, shape %v", v.Path, len(data), v.Dims)
		}
		if len(v.Path) > math.MaxUint16 || len(v.Dims) > math.MaxUint8 {
			return nil, fmt.Errorf("export: variable %s: path or rank too long", v.Path)
		}
		q := opts.Quantized[v.Path]
		if q != nil {
			if err := q.Validate(); err != nil || !slices.Equal(q.Dims, v.Dims) {
				return nil, fmt.Errorf("export: quantized %s does not match shape %v: %v", v.Path, v.Dims, err)
			}
		}
		ts := TensorStats{Path: v.Path, Elements: n}
		nonZero := make([]bool, n)
		for i := range n {
			if q != nil {
				nonZero[i] = q.Values[i] != 0
			} else {
				nonZero[i] = data[i] != 0
			}
			if nonZero[i] {
				ts.NonZero++
			}
		}
		valueSize := 4
		if q != nil {
			valueSize = 1
		}
		bitmap := packBitmap(nonZero)
		gaps := encodeGaps(nonZero)
		idx, idxCoding := bitmap, idxBitmap
		if indexCost(gaps, !opts.NoCompression) < indexCost(bitmap, !opts.NoCompression) {
			idx, idxCoding = gaps, idxGaps
		}
		sparse := !opts.Dense && len(idx)+ts.NonZero*valueSize < n*valueSize
		enc := encDenseF32
		switch {
		case q != nil && sparse:
			enc = encSparseI8
		case q != nil:
			enc = encDenseI8
		case sparse:
			enc = encSparseF32
		}
		ts.Encoding = EncodingName(enc)

		// Header.
		_ = binary.Write(&headers, le, uint16(len(v.Path)))
		headers.WriteString(v.Path)
		headers.WriteByte(byte(len(v.Dims)))
		for _, d := range v.Dims {
			if d > math.MaxUint32 {
				return nil, fmt.Errorf("export: variable %s: dimension %d too large", v.Path, d)
			}
			_ = binary.Write(&headers, le, uint32(d))
		}
		headers.WriteByte(byte(enc))
		start := index.Len() + scales.Len() + vals.Len()
		if sparse {
			_ = binary.Write(&headers, le, uint32(ts.NonZero))
			headers.WriteByte(byte(idxCoding))
			_ = binary.Write(&headers, le, uint32(len(idx)))
			index.Write(idx)
			ts.Index = map[int]string{idxBitmap: "bitmap", idxGaps: "gaps"}[idxCoding]
		}
		if q != nil {
			headers.WriteByte(byte(q.Axis))
			for _, s := range q.Scales {
				_ = binary.Write(&scales, le, math.Float32bits(s))
			}
		}
		for i := range n {
			if sparse && !nonZero[i] {
				continue
			}
			if q != nil {
				vals.WriteByte(byte(q.Values[i]))
			} else {
				_ = binary.Write(&vals, le, math.Float32bits(data[i]))
			}
		}
		ts.Bytes = index.Len() + scales.Len() + vals.Len() - start
		st.Tensors = append(st.Tensors, ts)
		st.Params += n
	}
	st.DenseBytes = 4 * st.Params

	var body bytes.Buffer
	writeChunk := func(b []byte) {
		_ = binary.Write(&body, le, uint32(len(b)))
		body.Write(b)
	}
	writeChunk(progJSON.Bytes())
	writeChunk(metaJSON)
	_ = binary.Write(&body, le, uint32(len(p.Variables)))
	body.Write(headers.Bytes())
	body.Write(index.Bytes())
	body.Write(scales.Bytes())
	body.Write(vals.Bytes())
	st.RawBytes = body.Len()

	stored := body.Bytes()
	flags := uint16(0)
	if !opts.NoCompression {
		var z bytes.Buffer
		fw, err := flate.NewWriter(&z, flate.BestCompression)
		if err != nil {
			return nil, err
		}
		if _, err := fw.Write(stored); err != nil {
			return nil, err
		}
		if err := fw.Close(); err != nil {
			return nil, err
		}
		stored, flags = z.Bytes(), flagDeflate
	}
	var file bytes.Buffer
	file.WriteString(Magic)
	_ = binary.Write(&file, le, uint16(FormatVersion))
	_ = binary.Write(&file, le, flags)
	_ = binary.Write(&file, le, uint64(st.RawBytes))
	_ = binary.Write(&file, le, uint64(len(stored)))
	file.Write(stored)
	sum := sha256.Sum256(file.Bytes())
	file.Write(sum[:])
	st.FileBytes = file.Len()
	if _, err := w.Write(file.Bytes()); err != nil {
		return nil, fmt.Errorf("export: writing: %w", err)
	}
	return st, nil
}

func elements(dims []int) int {
	n := 1
	for _, d := range dims {
		n *= d
	}
	return n
}

// packBitmap sets bit i%8 of byte i/8 for every non-zero i.
func packBitmap(nonZero []bool) []byte {
	b := make([]byte, (len(nonZero)+7)/8)
	for i, nz := range nonZero {
		if nz {
			b[i/8] |= 1 << (i % 8)
		}
	}
	return b
}

// encodeGaps writes, for each non-zero position p (in increasing order), p − previous − 1 as an
// unsigned LEB128 varint (the previous position of the first is −1).
func encodeGaps(nonZero []bool) []byte {
	var out []byte
	prev := -1
	for i, nz := range nonZero {
		if nz {
			out = binary.AppendUvarint(out, uint64(i-prev-1))
			prev = i
		}
	}
	return out
}

// indexCost is the size an index stream adds to the file: its length, or, when the body is
// compressed, the length of its own DEFLATE stream (an estimate of its share of the compressed body).
func indexCost(b []byte, compressed bool) int {
	if !compressed {
		return len(b)
	}
	var z bytes.Buffer
	fw, err := flate.NewWriter(&z, flate.BestCompression)
	if err != nil {
		return len(b)
	}
	_, _ = fw.Write(b)
	_ = fw.Close()
	return z.Len()
}
