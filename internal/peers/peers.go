// Package peers adapts package peers (PyTorch and ONNX Runtime, the programs Prunelab is checked
// against) to tests: a missing peer skips the test with the command that installs it, unless
// PRUNELAB_REQUIRE_PEERS=1 (set by .ci/run), which makes it a failure, so CI cannot pass without
// the checks; the PyTorch test models are made once into the user cache directory and shared by
// every test package.
package peers

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/prunelab/prunelab/datasets"
	"github.com/prunelab/prunelab/peers"
)

// fail skips t for a missing peer (fails it under PRUNELAB_REQUIRE_PEERS=1), and fails it for
// any other error.
func fail(t testing.TB, err error) {
	t.Helper()
	if errors.Is(err, peers.ErrMissing) && os.Getenv("PRUNELAB_REQUIRE_PEERS") != "1" {
		t.Skip(err)
	}
	t.Fatal(err)
}

// Meta is a test model's description, written by scripts/peers/torch_onnx.py.
type Meta struct {
	Name         string  `json:"name"`
	InputShape   []int   `json:"input_shape"`
	OutputShape  []int   `json:"output_shape"`
	Params       int     `json:"params"`
	Weights      int     `json:"weights"`
	TestAccuracy float64 `json:"test_accuracy"`
}

// TorchModels returns the directory holding the named ONNX test models of
// scripts/peers/torch_onnx.py (LeNet-300-100 trained 1 epoch), making the missing ones into the
// user cache directory, under a name that changes with the script.
func TorchModels(t testing.TB, names ...string) string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(peers.Root(), "scripts", "peers", "torch_onnx.py"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(src)
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "prunelab", "torch-onnx", hex.EncodeToString(sum[:])[:16])
	for _, name := range names {
		if _, err := os.Stat(filepath.Join(dir, name+".done")); err == nil {
			continue
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		tmp, err := os.MkdirTemp(dir, "tmp-")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(tmp)
		if err := peers.TorchModels(tmp, 1, name); err != nil {
			fail(t, err)
		}
		files, err := os.ReadDir(tmp)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files { // each rename is atomic: a concurrent test package sees whole files
			if err := os.Rename(filepath.Join(tmp, f.Name()), filepath.Join(dir, f.Name())); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, name+".done"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// ReadMeta reads a test model's description from dir.
func ReadMeta(t testing.TB, dir, name string) Meta {
	t.Helper()
	var m Meta
	data, err := os.ReadFile(filepath.Join(dir, name+".json"))
	if err == nil {
		err = json.Unmarshal(data, &m)
	}
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// RunORT runs the ONNX model in ONNX Runtime (2 threads) on x (shape dims) in runs of batch
// examples (0: all at once) and returns its first output.
func RunORT(t testing.TB, model string, x []float32, dims []int, batch int) []float32 {
	t.Helper()
	y, err := peers.ORT(model, x, dims, batch, 2)
	if err != nil {
		fail(t, err)
	}
	return y
}

// CheckONNX runs the ONNX checker on the file and returns its complaint, or nil.
func CheckONNX(t testing.TB, model string) error {
	t.Helper()
	if err := peers.CheckTorch(); err != nil {
		fail(t, err)
	}
	return peers.CheckONNX(model)
}

// ReadFloats and MaxDiff are package peers'.
var (
	ReadFloats = peers.ReadFloats
	MaxDiff    = peers.MaxDiff
)

// ORTAccuracy is the accuracy ONNX Runtime measures with the model on the images (see
// peers.ORTAccuracy).
func ORTAccuracy(t testing.TB, model string, im *datasets.Images) float64 {
	t.Helper()
	acc, err := peers.ORTAccuracy(model, im)
	if err != nil {
		fail(t, err)
	}
	return acc
}

// FileSize returns the size in bytes of the file at path.
func FileSize(t testing.TB, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}
