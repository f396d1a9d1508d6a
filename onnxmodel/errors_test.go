package onnxmodel

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
)

// tiny reads testdata/tiny.onnx (Linear 4→3, ReLU, Linear 3→2 from torch.onnx.export).
func tiny(t testing.TB) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "tiny.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// edited parses tiny.onnx, lets edit change its proto, and returns the new bytes.
func edited(t *testing.T, edit func(m *Model)) []byte {
	t.Helper()
	m, err := Parse(tiny(t), "")
	if err != nil {
		t.Fatal(err)
	}
	c := clone(&m.model.Proto)
	m.model.Proto.Reset()
	proto.Merge(&m.model.Proto, c)
	edit(m)
	data, err := proto.Marshal(&m.model.Proto)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestTiny(t *testing.T) {
	m, err := Parse(tiny(t), "")
	if err != nil {
		t.Fatal(err)
	}
	if m.Input.String() != "input [batch 4]" || m.Output.String() != "output [batch 2]" {
		t.Errorf("input %s, output %s", m.Input, m.Output)
	}
	if len(m.Layers) != 2 || m.Weights != 18 || m.Params != 23 || m.Opset != 13 || m.Producer != "pytorch" {
		t.Errorf("layers %+v, weights %d, params %d, opset %d, producer %q", m.Layers, m.Weights, m.Params, m.Opset,
			m.Producer)
	}
}

func TestParseErrors(t *testing.T) {
	data := tiny(t)
	for _, tc := range []struct {
		name string
		data []byte
		want error
		says string
	}{
		{"empty", nil, ErrFormat, "empty file"},
		{"truncated", data[:len(data)/2], ErrFormat, "ONNX model"},
		{"garbage", []byte("\x08\x07not an onnx model at all\xff\xff\xff"), ErrFormat, "ONNX model"},
		{"no graph", func() []byte {
			return edited(t, func(m *Model) { m.model.Proto.Graph = nil })
		}(), ErrFormat, "no graph"},
		{"unsupported op", edited(t, func(m *Model) {
			m.model.Proto.Graph.Node[1].OpType = "Hardmax"
		}), ErrUnsupportedOp, "operator Hardmax"},
		{"custom domain", edited(t, func(m *Model) {
			m.model.Proto.Graph.Node[1].Domain = "com.microsoft"
		}), ErrUnsupportedOp, "of domain com.microsoft"},
		{"gemm alpha", edited(t, func(m *Model) {
			n := m.model.Proto.Graph.Node[0]
			for _, a := range n.Attribute {
				if a.Name == "alpha" {
					a.F = 2
					return
				}
			}
			a := newElem(n.Attribute)
			a.Name, a.F, a.Type = "alpha", 2, 1
			n.Attribute = append(n.Attribute, a)
		}), ErrUnsupportedOp, "alpha 2 and beta 1"},
		{"external data, no directory", edited(t, func(m *Model) {
			w := m.model.Proto.Graph.Initializer[0]
			e := newElem(w.ExternalData)
			e.Key, e.Value = "location", "weights.bin"
			w.ExternalData, w.DataLocation, w.RawData = append(w.ExternalData, e), 1, nil
		}), ErrExternalData, "weights.bin"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.data, "")
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.says) {
				t.Errorf("Parse: %v, want %v saying %q", err, tc.want, tc.says)
			}
		})
	}
	t.Run("node named", func(t *testing.T) {
		data := edited(t, func(m *Model) { m.model.Proto.Graph.Node[1].OpType = "Hardmax" })
		_, err := Parse(data, "")
		if err == nil || !strings.Contains(err.Error(), `node "/1/Relu"`) {
			t.Errorf("Parse: %v, want the node's name", err)
		}
	})
	if _, err := Open(filepath.Join(t.TempDir(), "missing.onnx")); err == nil || !strings.Contains(err.Error(), "missing.onnx") {
		t.Errorf("Open(missing file) = %v, want an error naming it", err)
	}
}

// TestExternalData: an initializer stored beside the model is read from there; a missing file,
// a short one or a path outside the model's directory is an error naming the file.
func TestExternalData(t *testing.T) {
	base, err := Parse(tiny(t), "")
	if err != nil {
		t.Fatal(err)
	}
	raw := base.model.Proto.Graph.Initializer[0].RawData
	name := base.model.Proto.Graph.Initializer[0].Name
	external := func(location string) []byte {
		return edited(t, func(m *Model) {
			w := m.model.Proto.Graph.Initializer[0]
			e := newElem(w.ExternalData)
			e.Key, e.Value = "location", location
			w.ExternalData, w.DataLocation, w.RawData = append(w.ExternalData, e), 1, nil
		})
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "model.onnx")
	if err := os.WriteFile(path, external("weights.bin"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path); !errors.Is(err, ErrExternalData) || !strings.Contains(err.Error(), "weights.bin") {
		t.Errorf("missing external file: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "weights.bin"), raw[:len(raw)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path); !errors.Is(err, ErrExternalData) {
		t.Errorf("short external file: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "weights.bin"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.model.Proto.Graph.Initializer[0]; got.Name != name || string(got.RawData) != string(raw) {
		t.Errorf("initializer %q not read from weights.bin", got.Name)
	}
	if _, err := Parse(external("../weights.bin"), dir); !errors.Is(err, ErrExternalData) {
		t.Errorf("external data outside the model's directory: %v", err)
	}
}

// FuzzParse: no input makes Parse panic; what it accepts is self-consistent.
func FuzzParse(f *testing.F) {
	data := tiny(f)
	f.Add(data)
	f.Add(data[:len(data)-7])
	f.Add(data[:40])
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse(data, "")
		if err != nil {
			return
		}
		if m.Input.Name == "" && len(m.Input.Dims) == 0 {
			t.Errorf("accepted a model without input")
		}
		for _, l := range m.Layers {
			if l.Path != VariablePath(l.Initializer) || len(l.Nodes) == 0 || len(l.Shape) < 2 {
				t.Errorf("inconsistent layer %+v", l)
			}
		}
	})
}

func TestRemapReshape(t *testing.T) {
	for _, tc := range []struct {
		s, target, s2, want []int
		fails               bool
	}{
		{s: []int{1, 16, 5, 5}, target: []int{-1, 400}, s2: []int{1, 8, 5, 5}, want: []int{-1, 200}},
		{s: []int{1, 16, 5, 5}, target: []int{0, 400}, s2: []int{1, 8, 5, 5}, want: []int{1, 200}},
		{s: []int{1, 16, 5, 5}, target: []int{1, 16, 25}, s2: []int{1, 12, 5, 5}, want: []int{1, 12, 25}},
		{s: []int{2, 49, 64}, target: []int{2, 49, 4, 16}, s2: []int{2, 49, 48}, want: []int{2, 49, 3, 16}}, // heads split
		{s: []int{2, 49, 64}, target: []int{0, -1, 1, 4, 16}, s2: []int{2, 49, 32}, want: []int{2, -1, 1, 2, 16}},
		{s: []int{2, 49, 64}, target: []int{2, 49, 4, 16}, s2: []int{2, 49, 40}, fails: true}, // not whole heads
		{s: []int{2, 6, 64}, target: []int{2, 384}, s2: []int{2, 5, 48}, want: []int{2, 240}},
		{s: []int{2, 6, 64}, target: []int{2, 3, 128}, s2: []int{2, 6, 48}, fails: true}, // regrouped
		{s: []int{2, 49, 64}, target: []int{2, 49, 4, 16}, s2: []int{2, 49, 64}, want: []int{2, 49, 4, 16}},
	} {
		got, err := remapReshape(tc.s, tc.target, tc.s2)
		if tc.fails != (err != nil) || (!tc.fails && !slices.Equal(got, tc.want)) {
			t.Errorf("remapReshape(%v, %v, %v) = %v, %v; want %v (fails %v)", tc.s, tc.target, tc.s2, got, err, tc.want,
				tc.fails)
		}
	}
}
