package export_test

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"errors"
	"math"
	"slices"
	"testing"

	"github.com/gomlx/gomlx/backends"
	_ "github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/layers"
	"github.com/gomlx/gomlx/pkg/ml/layers/activations"

	"github.com/prunelab/prunelab/backend"
	"github.com/prunelab/prunelab/export"
	"github.com/prunelab/prunelab/models"
	"github.com/prunelab/prunelab/program"
	"github.com/prunelab/prunelab/quantize"
)

func goBackend(t testing.TB) backends.Backend {
	t.Helper()
	b, err := backend.NewPureGo()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// traced traces fn with initialized variables and returns the program and its values.
func traced(t testing.TB, fn program.ModelFn, example ...int) (*program.Program, map[string][]float32) {
	t.Helper()
	b := goBackend(t)
	ctx := context.New()
	ctx.SetParam(context.ParamInitialSeed, int64(5))
	p, err := program.Trace(b, ctx, fn, shapes.Make(dtypes.Float32, example...))
	if err != nil {
		t.Fatal(err)
	}
	x := tensors.FromShape(shapes.Make(dtypes.Float32, append([]int{1}, example...)...))
	if _, err := context.MustNewExec(b, ctx.Reuse(), fn).Exec(x); err != nil {
		t.Fatal(err)
	}
	values, err := p.Values(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return p, values
}

// prune zeroes the smallest-magnitude fraction of every weight (rank >= 2) of values.
func prune(p *program.Program, values map[string][]float32, sparsity float64) {
	for _, v := range p.Variables {
		if len(v.Dims) < 2 {
			continue
		}
		w := values[v.Path]
		order := make([]int, len(w))
		for i := range order {
			order[i] = i
		}
		slices.SortFunc(order, func(a, b int) int { return cmp.Compare(math.Abs(float64(w[a])), math.Abs(float64(w[b]))) })
		for _, i := range order[:int(sparsity*float64(len(w)))] {
			w[i] = 0
		}
	}
}

func lenet(t testing.TB, sparsity float64) (*program.Program, map[string][]float32) {
	m, _ := models.ByName("lenet-300-100")
	p, values := traced(t, m.Build, m.InputShape...)
	prune(p, values, sparsity)
	return p, values
}

func TestRoundTrip(t *testing.T) {
	p, values := lenet(t, 0.95)
	q, err := quantize.Calibrate(goBackend(t), p, values, nil, quantize.Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		opts export.Options
	}{
		{"sparse", export.Options{}},
		{"dense uncompressed", export.Options{Dense: true, NoCompression: true}},
		{"int8", export.Options{Quantized: q.Tensors, Meta: export.Meta{"model": "lenet-300-100"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			st, err := export.Write(&buf, p, values, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if st.FileBytes != buf.Len() || st.Params != p.NumParams() {
				t.Errorf("stats say %d bytes and %d params, wrote %d bytes for %d params", st.FileBytes, st.Params, buf.Len(),
					p.NumParams())
			}
			m, err := export.Read(bytes.NewReader(buf.Bytes()), export.ReadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			want := values
			if tc.opts.Quantized != nil {
				want = q.Dequantized(values)
			}
			for path, w := range want {
				if !slices.Equal(m.Values[path], w) {
					t.Errorf("%s: values differ after the round trip", path)
				}
			}
			for k, v := range tc.opts.Meta {
				if m.Meta[k] != v {
					t.Errorf("meta %s = %q, want %q", k, m.Meta[k], v)
				}
			}
			// The restored model runs.
			ctx, err := m.NewContext()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := m.Program.Run(goBackend(t), ctx, tensors.FromShape(shapes.Make(dtypes.Float32, 2, 28, 28, 1))); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestSizes(t *testing.T) {
	p, values := lenet(t, 0.95)
	q, err := quantize.Calibrate(goBackend(t), p, values, nil, quantize.Config{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := export.Sizes(p, values, q.Tensors)
	if err != nil {
		t.Fatal(err)
	}
	if r.DenseFloat32 != 4*266610 || len(r.Rows) != 6 {
		t.Fatalf("report: %+v", r)
	}
	// Each row is smaller than the previous one, except the dense file (program and headers).
	for i := 2; i < len(r.Rows); i++ {
		if i != 3 && r.Rows[i].Bytes >= r.Rows[i-1].Bytes {
			t.Errorf("%s (%d bytes) is not smaller than %s (%d bytes)", r.Rows[i].Name, r.Rows[i].Bytes,
				r.Rows[i-1].Name, r.Rows[i-1].Bytes)
		}
	}
	t.Log("\n" + r.String())
}

func TestBitmapAndGaps(t *testing.T) {
	// At 50% sparsity a bitmap (1 bit per weight) is smaller than gaps (1 byte per non-zero).
	for _, tc := range []struct {
		sparsity float64
		index    string
	}{{0.5, "bitmap"}, {0.97, "gaps"}} {
		p, values := lenet(t, tc.sparsity)
		var buf bytes.Buffer
		st, err := export.Write(&buf, p, values, export.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if st.Tensors[0].Index != tc.index {
			t.Errorf("sparsity %g: first layer's index is %q, want %q", tc.sparsity, st.Tensors[0].Index, tc.index)
		}
		m, err := export.Read(&buf, export.ReadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(m.Values["/fc0/dense/weights"], values["/fc0/dense/weights"]) {
			t.Errorf("sparsity %g: weights differ after the round trip", tc.sparsity)
		}
	}
}

func TestReadRejectsBadFiles(t *testing.T) {
	p, values := tiny(t)
	var buf bytes.Buffer
	if _, err := export.Write(&buf, p, values, export.Options{}); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	tampered := slices.Clone(good)
	tampered[len(tampered)/2] ^= 1
	for _, tc := range []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, export.ErrFormat},
		{"not an export file", []byte("hello, world, this is not a model at all, no no"), export.ErrFormat},
		{"truncated", good[:len(good)-10], export.ErrFormat},
		{"tampered", tampered, export.ErrChecksum},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := export.Read(bytes.NewReader(tc.data), export.ReadOptions{})
			if !errors.Is(err, tc.want) {
				t.Errorf("Read error = %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := export.Read(bytes.NewReader(good), export.ReadOptions{MaxElements: 4}); !errors.Is(err, export.ErrTooLarge) {
		t.Errorf("Read with MaxElements 4: error = %v, want ErrTooLarge", err)
	}
}

// tiny is a two-layer perceptron on 4 inputs, half of its weights zero.
func tiny(t testing.TB) (*program.Program, map[string][]float32) {
	fn := func(ctx *context.Context, x *graph.Node) *graph.Node {
		x = activations.Relu(layers.Dense(ctx.In("fc0"), x, true, 3))
		return layers.Dense(ctx.In("fc1"), x, true, 2)
	}
	p, values := traced(t, fn, 4)
	prune(p, values, 0.5)
	return p, values
}

// FuzzRead feeds Read arbitrary bytes; with fixSum the SHA-256 trailer is recomputed so that the
// parser behind the checksum is exercised too. Read must return an error or a model, never panic,
// and stay within its limits.
func FuzzRead(f *testing.F) {
	p, values := tiny(f)
	for _, opts := range []export.Options{{}, {NoCompression: true}, {Dense: true, NoCompression: true}} {
		var buf bytes.Buffer
		if _, err := export.Write(&buf, p, values, opts); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes(), false)
		f.Add(buf.Bytes(), true)
		f.Add(buf.Bytes()[:len(buf.Bytes())/2], true)
	}
	f.Fuzz(func(t *testing.T, data []byte, fixSum bool) {
		if fixSum && len(data) >= sha256.Size {
			sum := sha256.Sum256(data[:len(data)-sha256.Size])
			data = append(data[:len(data)-sha256.Size:len(data)-sha256.Size], sum[:]...)
		}
		m, err := export.Read(bytes.NewReader(data), export.ReadOptions{MaxFileBytes: 1 << 20, MaxElements: 1 << 16})
		if err == nil && m.Stats.Params > 1<<16 {
			t.Errorf("read a model of %d elements, over the limit", m.Stats.Params)
		}
	})
}
