package export

import (
	"bytes"
	"compress/flate"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/bits"
	"slices"

	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/prunelab/prunelab/program"
	"github.com/prunelab/prunelab/quantize"
)

// ReadOptions bound what [Read] accepts, so that a hostile file cannot make it allocate much more
// than the limits. The zero value uses the defaults.
type ReadOptions struct {
	// MaxFileBytes bounds the file and its decompressed body (default 1 GiB).
	MaxFileBytes int64
	// MaxElements bounds the total number of variable elements (default 1<<26, 64M: 256 MiB of
	// float32).
	MaxElements int
}

func (o ReadOptions) withDefaults() ReadOptions {
	if o.MaxFileBytes <= 0 {
		o.MaxFileBytes = 1 << 30
	}
	if o.MaxElements <= 0 {
		o.MaxElements = 1 << 26
	}
	return o
}

// Model is a model restored from an export file: its program and variable values, ready to run.
type Model struct {
	Program *program.Program
	// Values are the float32 values of every variable, keyed by path (INT8 ones dequantized).
	Values map[string][]float32
	// Quantized holds the INT8 variables as stored.
	Quantized map[string]*quantize.Tensor
	// Stats describes how each variable was stored (FileBytes is the file's size).
	Stats *Stats
	Meta  Meta
}

// NewContext returns a context holding the model's variables, to run Program.Build with.
func (m *Model) NewContext() (*context.Context, error) { return m.Program.NewContext(m.Values) }

// Read reads an export file written by [Write]: it checks the SHA-256 first, then decodes every
// section with bounds checks. Errors wrap [ErrFormat], [ErrChecksum] or [ErrTooLarge], or the
// program package's errors for a malformed program. It never panics on bad input.
func Read(r io.Reader, opts ReadOptions) (*Model, error) {
	opts = opts.withDefaults()
	data, err := io.ReadAll(io.LimitReader(r, opts.MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("export: reading: %w", err)
	}
	if int64(len(data)) > opts.MaxFileBytes {
		return nil, fmt.Errorf("%w: file larger than %d bytes", ErrTooLarge, opts.MaxFileBytes)
	}
	if len(data) < len(Magic) || string(data[:len(Magic)]) != Magic {
		return nil, fmt.Errorf("%w: not a Prunelab export file (no %q magic)", ErrFormat, Magic)
	}
	if len(data) < headerSize+sha256.Size {
		return nil, fmt.Errorf("%w: truncated: %d bytes", ErrFormat, len(data))
	}
	le := binary.LittleEndian
	version, flags := le.Uint16(data[8:]), le.Uint16(data[10:])
	rawLen, bodyLen := le.Uint64(data[12:]), le.Uint64(data[20:])
	if version != FormatVersion {
		return nil, fmt.Errorf("%w: format version %d, this reader reads %d", ErrFormat, version, FormatVersion)
	}
	if bodyLen != uint64(len(data)-headerSize-sha256.Size) {
		return nil, fmt.Errorf("%w: truncated or padded: header says %d body bytes, file has %d", ErrFormat, bodyLen,
			len(data)-headerSize-sha256.Size)
	}
	content, sum := data[:len(data)-sha256.Size], data[len(data)-sha256.Size:]
	if want := sha256.Sum256(content); !bytes.Equal(sum, want[:]) {
		return nil, fmt.Errorf("%w: SHA-256 %x, content hashes to %x", ErrChecksum, sum, want)
	}
	if flags&^flagDeflate != 0 {
		return nil, fmt.Errorf("%w: unknown flags %#x", ErrFormat, flags)
	}
	if rawLen > uint64(opts.MaxFileBytes) {
		return nil, fmt.Errorf("%w: body of %d bytes", ErrTooLarge, rawLen)
	}
	body := content[headerSize:]
	if flags&flagDeflate != 0 {
		zr := flate.NewReader(bytes.NewReader(body))
		var buf bytes.Buffer
		if _, err := io.Copy(&buf, io.LimitReader(zr, int64(rawLen)+1)); err != nil {
			return nil, fmt.Errorf("%w: decompressing: %v", ErrFormat, err)
		}
		body = buf.Bytes()
	}
	if uint64(len(body)) != rawLen {
		return nil, fmt.Errorf("%w: body is %d bytes, header says %d", ErrFormat, len(body), rawLen)
	}
	m, err := parseBody(body, opts)
	if err != nil {
		return nil, err
	}
	m.Stats.FileBytes = len(data)
	m.Stats.RawBytes = len(body)
	return m, nil
}

// cursor reads little-endian values from a byte slice, recording the first error.
type cursor struct {
	b   []byte
	err error
}

func (c *cursor) take(n int, what string) []byte {
	if c.err != nil {
		return nil
	}
	if n < 0 || n > len(c.b) {
		c.err = fmt.Errorf("%w: truncated reading %s (%d bytes wanted, %d left)", ErrFormat, what, n, len(c.b))
		return nil
	}
	out := c.b[:n]
	c.b = c.b[n:]
	return out
}

func (c *cursor) u8(what string) int {
	b := c.take(1, what)
	if b == nil {
		return 0
	}
	return int(b[0])
}

func (c *cursor) u16(what string) int {
	b := c.take(2, what)
	if b == nil {
		return 0
	}
	return int(binary.LittleEndian.Uint16(b))
}

func (c *cursor) u32(what string) int {
	b := c.take(4, what)
	if b == nil {
		return 0
	}
	return int(binary.LittleEndian.Uint32(b))
}

// header is a parsed tensor header.
type header struct {
	path      string
	dims      []int
	n         int
	enc       int
	nnz       int
	idxCoding int
	idxLen    int
	axis      int
}

func (h *header) sparse() bool    { return h.enc == encSparseF32 || h.enc == encSparseI8 }
func (h *header) quantized() bool { return h.enc == encDenseI8 || h.enc == encSparseI8 }
func (h *header) stored() int {
	if h.sparse() {
		return h.nnz
	}
	return h.n
}

func parseBody(body []byte, opts ReadOptions) (*Model, error) {
	c := &cursor{b: body}
	progJSON := c.take(c.u32("program length"), "program")
	metaJSON := c.take(c.u32("metadata length"), "metadata")
	if c.err != nil {
		return nil, c.err
	}
	p, err := program.Decode(bytes.NewReader(progJSON))
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	m := &Model{Program: p, Values: map[string][]float32{}, Quantized: map[string]*quantize.Tensor{}, Stats: &Stats{}}
	if err := json.Unmarshal(metaJSON, &m.Meta); err != nil {
		return nil, fmt.Errorf("%w: metadata: %v", ErrFormat, err)
	}
	numTensors := c.u32("tensor count")
	if c.err == nil && numTensors != len(p.Variables) {
		return nil, fmt.Errorf("%w: %d tensors for %d program variables", ErrFormat, numTensors, len(p.Variables))
	}
	headers := make([]header, 0, len(p.Variables))
	seen := map[string]bool{}
	total := 0
	for range numTensors {
		var h header
		h.path = string(c.take(c.u16("path length"), "path"))
		rank := c.u8("rank")
		for range rank {
			h.dims = append(h.dims, c.u32("dimension"))
		}
		h.enc = c.u8("encoding")
		if c.err != nil {
			return nil, c.err
		}
		v := p.Variable(h.path)
		if v == nil || seen[h.path] {
			return nil, fmt.Errorf("%w: tensor %q is not a program variable or is stored twice", ErrFormat, h.path)
		}
		seen[h.path] = true
		if !slices.Equal(v.Dims, h.dims) && !(len(v.Dims) == 0 && len(h.dims) == 0) {
			return nil, fmt.Errorf("%w: tensor %s has shape %v, the program reads %v", ErrFormat, h.path, h.dims, v.Dims)
		}
		h.n = 1
		for _, d := range h.dims {
			if d > 0 && h.n > opts.MaxElements/d {
				return nil, fmt.Errorf("%w: tensor %s of shape %v has more than %d elements", ErrTooLarge, h.path, h.dims,
					opts.MaxElements)
			}
			h.n *= d
		}
		if total += h.n; total > opts.MaxElements {
			return nil, fmt.Errorf("%w: more than %d elements in all", ErrTooLarge, opts.MaxElements)
		}
		if h.enc > encSparseI8 {
			return nil, fmt.Errorf("%w: tensor %s has unknown encoding %d", ErrFormat, h.path, h.enc)
		}
		if h.sparse() {
			h.nnz = c.u32("non-zero count")
			h.idxCoding = c.u8("index coding")
			h.idxLen = c.u32("index length")
			if c.err == nil && (h.nnz > h.n || h.idxCoding > idxGaps) {
				return nil, fmt.Errorf("%w: tensor %s: %d non-zeros of %d, index coding %d", ErrFormat, h.path, h.nnz, h.n,
					h.idxCoding)
			}
		}
		if h.quantized() {
			h.axis = c.u8("quantization axis")
			if c.err == nil && h.axis >= len(h.dims) {
				return nil, fmt.Errorf("%w: tensor %s: quantization axis %d of rank %d", ErrFormat, h.path, h.axis, len(h.dims))
			}
		}
		if c.err != nil {
			return nil, c.err
		}
		headers = append(headers, h)
	}
	// Sections: indices, scales, values. Sizes are checked before anything is allocated.
	indexBytes := make([][]byte, len(headers))
	for i, h := range headers {
		if h.sparse() {
			indexBytes[i] = c.take(h.idxLen, "index of "+h.path)
		}
	}
	scaleBytes := make([][]byte, len(headers))
	for i, h := range headers {
		if h.quantized() {
			scaleBytes[i] = c.take(4*h.dims[h.axis], "scales of "+h.path)
		}
	}
	valueBytes := make([][]byte, len(headers))
	for i, h := range headers {
		size := 4
		if h.quantized() {
			size = 1
		}
		valueBytes[i] = c.take(size*h.stored(), "values of "+h.path)
	}
	if c.err != nil {
		return nil, c.err
	}
	if len(c.b) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the last section", ErrFormat, len(c.b))
	}
	for i, h := range headers {
		var positions []int
		if h.sparse() {
			var err error
			if positions, err = decodeIndex(indexBytes[i], h); err != nil {
				return nil, err
			}
		}
		ts := TensorStats{Path: h.path, Elements: h.n, Encoding: EncodingName(h.enc),
			Bytes: len(indexBytes[i]) + len(scaleBytes[i]) + len(valueBytes[i])}
		if h.sparse() {
			ts.Index = map[int]string{idxBitmap: "bitmap", idxGaps: "gaps"}[h.idxCoding]
		}
		at := func(k int) int {
			if positions != nil {
				return positions[k]
			}
			return k
		}
		if h.quantized() {
			q := &quantize.Tensor{Dims: slices.Clone(h.dims), Axis: h.axis, Scales: make([]float32, h.dims[h.axis]),
				Values: make([]int8, h.n)}
			for k := range q.Scales {
				q.Scales[k] = math.Float32frombits(binary.LittleEndian.Uint32(scaleBytes[i][4*k:]))
			}
			for k, b := range valueBytes[i] {
				q.Values[at(k)] = int8(b)
			}
			m.Quantized[h.path] = q
			m.Values[h.path] = q.Dequantize()
		} else {
			vals := make([]float32, h.n)
			for k := range h.stored() {
				vals[at(k)] = math.Float32frombits(binary.LittleEndian.Uint32(valueBytes[i][4*k:]))
			}
			m.Values[h.path] = vals
		}
		for _, v := range m.Values[h.path] {
			if v != 0 {
				ts.NonZero++
			}
		}
		m.Stats.Tensors = append(m.Stats.Tensors, ts)
		m.Stats.Params += h.n
	}
	m.Stats.DenseBytes = 4 * m.Stats.Params
	return m, nil
}

// decodeIndex returns the positions of a sparse tensor's non-zeros, checking that there are exactly
// h.nnz of them, increasing, below h.n, and that the index has no extra bytes.
func decodeIndex(b []byte, h header) ([]int, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: index of %s: %s", ErrFormat, h.path, fmt.Sprintf(format, args...))
	}
	positions := make([]int, 0, h.nnz)
	switch h.idxCoding {
	case idxBitmap:
		if len(b) != (h.n+7)/8 {
			return nil, bad("bitmap of %d bytes for %d elements", len(b), h.n)
		}
		count := 0
		for _, x := range b {
			count += bits.OnesCount8(x)
		}
		if count != h.nnz {
			return nil, bad("bitmap has %d bits set, header says %d non-zeros", count, h.nnz)
		}
		for i, x := range b {
			for x != 0 {
				j := bits.TrailingZeros8(x)
				x &= x - 1
				if pos := 8*i + j; pos < h.n {
					positions = append(positions, pos)
				} else {
					return nil, bad("bit %d set beyond %d elements", pos, h.n)
				}
			}
		}
	default:
		prev := -1
		for len(positions) < h.nnz {
			gap, k := binary.Uvarint(b)
			if k <= 0 {
				return nil, bad("truncated or overlong gap after %d positions", len(positions))
			}
			b = b[k:]
			if gap >= uint64(h.n-prev-1) {
				return nil, bad("position beyond %d elements", h.n)
			}
			prev += int(gap) + 1
			positions = append(positions, prev)
		}
		if len(b) != 0 {
			return nil, bad("%d bytes after the last gap", len(b))
		}
	}
	return positions, nil
}
