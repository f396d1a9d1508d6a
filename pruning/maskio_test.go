package pruning

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/google/go-cmp/cmp"
)

func TestMaskFileRoundTrip(t *testing.T) {
	set := halfMasks([]Target{
		{Scope: "/a/dense", Name: "weights", Shape: []int{7, 3}}, // 21 entries: padding bits in the last byte
		{Scope: "/b/conv", Name: "weights", Shape: []int{3, 3, 2, 4}},
		{Scope: "/", Name: "w", Shape: []int{0}},
	}, 9)
	path := filepath.Join(t.TempDir(), "masks.json")
	if err := SaveMasks(path, set); err != nil {
		t.Fatal(err)
	}
	got, err := LoadMasks(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(set, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("directory holds %d files after SaveMasks, want 1 (no temporary left)", len(entries))
	}

	var buf bytes.Buffer
	if err := EncodeMasks(&buf, set); err != nil {
		t.Fatal(err)
	}
	good := buf.String()
	corruptions := map[string]func(string) string{
		"checksum":  func(s string) string { return strings.Replace(s, `"crc32c": `, `"crc32c": 1`, 1) },
		"kept":      func(s string) string { return strings.Replace(s, `"kept": `, `"kept": 9`, 1) },
		"format":    func(s string) string { return strings.Replace(s, "prunelab-masks", "other", 1) },
		"version":   func(s string) string { return strings.Replace(s, `"version": 1`, `"version": 2`, 1) },
		"truncated": func(s string) string { return s[:len(s)/2] },
		"shape":     func(s string) string { return strings.Replace(s, "7,\n", "8,\n", 1) },
	}
	for name, corrupt := range corruptions {
		t.Run(name, func(t *testing.T) {
			bad := corrupt(good)
			if bad == good {
				t.Fatal("corruption did not change the file")
			}
			if _, err := DecodeMasks(strings.NewReader(bad)); !errors.Is(err, ErrInvalidMask) {
				t.Errorf("DecodeMasks error %v, want ErrInvalidMask", err)
			}
		})
	}
}

func TestMaskValidation(t *testing.T) {
	if _, err := MaskFromTensor(tensors.FromValue([][]float32{{0, 1}, {0.5, 1}})); !errors.Is(err, ErrInvalidMask) {
		t.Errorf("0.5 entry: error %v, want ErrInvalidMask", err)
	}
	m, err := MaskFromTensor(tensors.FromValue([][]float64{{0, 1}, {1, 1}}))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&Mask{Shape: []int{2, 2}, Keep: []bool{false, true, true, true}}, m); diff != "" {
		t.Errorf("mask (-want +got):\n%s", diff)
	}
	if _, err := MaskFromTensor(tensors.FromValue([]int32{0, 1})); !errors.Is(err, ErrUnsupportedDType) {
		t.Errorf("int mask: error %v, want ErrUnsupportedDType", err)
	}
}

func TestSetMaskFromTensorAndRemove(t *testing.T) {
	ctx := contextWith(t, layerSpec{"/a/dense/weights", []int{2, 2}, []float32{1, 2, 3, 4}})
	err := SetMaskFromTensor(ctx, "/a/dense/weights", tensors.FromValue([][]float32{{1, 0}, {0, 1}}))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]float64{1, 0, 0, 4}, weightsOf(t, ctx, "/a/dense/weights")); diff != "" {
		t.Errorf("weights (-want +got):\n%s", diff)
	}
	// A corrupted mask variable is caught when read.
	if err := setVariableFloats(maskVariable(ctx, "/a/dense/weights"), []float64{1, 0.5, 0, 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := GetMasks(ctx); !errors.Is(err, ErrInvalidMask) {
		t.Errorf("GetMasks on 0.5 entry: %v, want ErrInvalidMask", err)
	}
	if err := SetMasks(ctx, MaskSet{"/a/dense/weights": {Shape: []int{2, 2}, Keep: []bool{true, false, false, false}}}); err != nil {
		t.Fatal(err)
	}
	if err := RemoveMasks(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(Targets(ctx)); n != 0 {
		t.Errorf("%d targets after RemoveMasks, want 0", n)
	}
	if diff := cmp.Diff([]float64{1, 0, 0, 0}, weightsOf(t, ctx, "/a/dense/weights")); diff != "" {
		t.Errorf("baked weights (-want +got):\n%s", diff)
	}
	if _, err := PruneOnce(ctx, Config{}, Sparsity(0.5)); !errors.Is(err, ErrNoMask) {
		t.Errorf("PruneOnce without masks: %v, want ErrNoMask", err)
	}
}

func TestSelector(t *testing.T) {
	tests := []struct {
		sel  Selector
		path string
		rank int
		want bool
	}{
		{Selector{}, "/fc0/dense/weights", 2, true},
		{Selector{}, "/fc0/dense/biases", 1, false},
		{Selector{}, "/bn/scale", 1, false},
		{Selector{}, "/c0/conv/weights", 4, true},
		{Selector{}, "/pruning/masks/fc0/dense/weights", 2, false},
		{Selector{}, "/adam/fc0/dense/weights_1st_moment", 2, false},
		{Selector{Skip: []string{"/fc2/**"}}, "/fc2/dense/weights", 2, false},
		{Selector{Skip: []string{"/fc2/*"}}, "/fc2/dense/weights", 2, true}, // * stops at "/"
		{Selector{Include: []string{"**/embeddings"}}, "/emb/embeddings", 2, true},
		{Selector{Include: []string{"re:^/block[0-9]+/"}}, "/block12/conv/weights", 4, true},
		{Selector{Include: []string{"re:^/block[0-9]+/"}}, "/head/conv/weights", 4, false},
		{Selector{Include: []string{"/fc?/dense/weights"}}, "/fc1/dense/weights", 2, true},
	}
	for _, tc := range tests {
		got, err := tc.sel.Selects(tc.path, tc.rank)
		if err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("%+v.Selects(%q) = %v, want %v", tc.sel, tc.path, got, tc.want)
		}
	}
	if _, err := (Selector{Include: []string{"re:("}}).Selects("/a", 2); err == nil {
		t.Error("bad regexp accepted")
	}
}
