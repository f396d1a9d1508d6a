package datasets

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fakeServer serves files by name and counts requests.
type fakeServer struct {
	*httptest.Server
	files    map[string][]byte
	requests atomic.Int32
}

func newFakeServer(t *testing.T, files map[string][]byte) *fakeServer {
	s := &fakeServer{files: files}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		data, ok := s.files[strings.TrimPrefix(r.URL.Path, "/data/")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(data)
	}))
	t.Cleanup(s.Close)
	return s
}

// fakeIDXSpec returns an MNIST-like spec whose downloads are the given files (gzip IDX), with
// their checksums, and no other sources.
func fakeIDXSpec(t *testing.T, files map[string][]byte) *datasetSpec {
	spec := *mustSpec(t, "mnist")
	spec.name, spec.dirs, spec.goModule, spec.system, spec.mirrors = "toy", []string{"toy"}, nil, nil, nil
	spec.downloads = nil
	for _, base := range spec.idx {
		name := base + ".gz"
		spec.downloads = append(spec.downloads, fileSpec{name, sha256Hex(files[name]), int64(len(files[name]))})
	}
	return &spec
}

func toyIDXFiles(t *testing.T) map[string][]byte {
	return writeIDXSet(t, t.TempDir(), 20, true)
}

func TestDownload(t *testing.T) {
	isolateEnv(t)
	files := toyIDXFiles(t)
	srv := newFakeServer(t, files)
	spec := fakeIDXSpec(t, files)
	opts := Options{CacheDir: t.TempDir(), BaseURL: srv.URL + "/data", HTTPClient: srv.Client()}

	data, err := load(spec, opts)
	if err != nil {
		t.Fatal(err)
	}
	if want := "download " + srv.URL + "/data/train-images-idx3-ubyte.gz, "; !strings.HasPrefix(data.Source, want) {
		t.Errorf("Source = %q, want prefix %q", data.Source, want)
	}
	if data.Train.N != 20 || data.Test.N != 10 {
		t.Errorf("N = %d, %d, want 20, 10", data.Train.N, data.Test.N)
	}
	cache := filepath.Join(opts.CacheDir, "toy")
	got := listFiles(t, cache)
	slices.Sort(got)
	want := []string{"t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("cache files mismatch (-want +got):\n%s", diff)
	}
	for _, name := range want {
		if data, _ := os.ReadFile(filepath.Join(cache, name)); sha256Hex(data) != sha256Hex(files[name]) {
			t.Errorf("cached %s differs from the served file", name)
		}
	}

	// The second load reads the cache and sends no request.
	before := srv.requests.Load()
	data, err = load(spec, opts)
	if err != nil {
		t.Fatal(err)
	}
	if want := "cache " + cache; data.Source != want {
		t.Errorf("second Source = %q, want %q", data.Source, want)
	}
	if n := srv.requests.Load() - before; n != 0 {
		t.Errorf("second load sent %d requests, want 0", n)
	}
}

func TestDownloadRejects(t *testing.T) {
	isolateEnv(t)
	tests := []struct {
		name    string
		serve   func(files map[string][]byte) // Changes what the server sends.
		wantErr string
		want    error
	}{
		{"bad checksum", func(f map[string][]byte) {
			f["train-labels-idx1-ubyte.gz"] = append([]byte(nil), f["train-labels-idx1-ubyte.gz"]...)
			f["train-labels-idx1-ubyte.gz"][20] ^= 1
		}, "/data/train-labels-idx1-ubyte.gz: sha256 ", ErrChecksum},
		{"too long", func(f map[string][]byte) {
			f["train-labels-idx1-ubyte.gz"] = append(append([]byte(nil), f["train-labels-idx1-ubyte.gz"]...), 0)
		}, "bytes, want ", ErrChecksum},
		{"missing", func(f map[string][]byte) { delete(f, "train-labels-idx1-ubyte.gz") }, "HTTP status 404 Not Found", ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			files := toyIDXFiles(t)
			spec := fakeIDXSpec(t, files)
			served := map[string][]byte{}
			for k, v := range files {
				served[k] = v
			}
			tc.serve(served)
			srv := newFakeServer(t, served)
			opts := Options{CacheDir: t.TempDir(), BaseURL: srv.URL + "/data/", HTTPClient: srv.Client()}
			_, err := load(spec, opts)
			if !errors.Is(err, tc.want) || !errors.Is(err, ErrNotFound) {
				t.Fatalf("err = %v, want %v and ErrNotFound", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "download (") {
				t.Errorf("err = %q, want it to contain %q in the download attempt", err, tc.wantErr)
			}
			// The file that failed is not in the cache, and no temporary file is left.
			cached := listFiles(t, filepath.Join(opts.CacheDir, "toy"))
			for _, name := range cached {
				if name == "train-labels-idx1-ubyte.gz" || strings.HasSuffix(name, ".partial") {
					t.Errorf("cache holds %s after a rejected download: %v", name, cached)
				}
			}
		})
	}
}

func TestDownloadNoNetwork(t *testing.T) {
	isolateEnv(t)
	files := toyIDXFiles(t)
	spec := fakeIDXSpec(t, files)
	// Nothing listens on port 1 of the loopback address: the connection is refused at once.
	opts := Options{CacheDir: t.TempDir(), BaseURL: "http://127.0.0.1:1"}
	_, err := load(spec, opts)
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
	if want := "download (datasets: http://127.0.0.1:1/train-images-idx3-ubyte.gz: no network: cannot connect"; !strings.Contains(err.Error(), want) {
		t.Errorf("err = %q\nwant it to contain %q", err, want)
	}
}

func TestDownloadTimeout(t *testing.T) {
	isolateEnv(t)
	files := toyIDXFiles(t)
	spec := fakeIDXSpec(t, files)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // Never answers; the client gives up.
	}))
	defer srv.Close()
	opts := Options{CacheDir: t.TempDir(), BaseURL: srv.URL, HTTPClient: srv.Client(), DownloadTimeout: 100 * time.Millisecond}
	_, err := load(spec, opts)
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "timed out") {
		t.Errorf("err = %v, want ErrNotFound and a time-out", err)
	}
}

func TestDownloadCIFAR10(t *testing.T) {
	isolateEnv(t)
	archive := cifarArchive(t, 4)
	spec := *mustSpec(t, "cifar10")
	spec.mirrors = nil
	spec.cifarBatchRecord = 4
	spec.downloads = []fileSpec{{spec.cifarArchive, sha256Hex(archive), int64(len(archive))}}
	srv := newFakeServer(t, map[string][]byte{spec.cifarArchive: archive})
	opts := Options{CacheDir: t.TempDir(), BaseURL: srv.URL + "/data", HTTPClient: srv.Client()}

	data, err := load(&spec, opts)
	if err != nil {
		t.Fatal(err)
	}
	cache := filepath.Join(opts.CacheDir, "cifar-10")
	if want := "download " + srv.URL + "/data/cifar-10-binary.tar.gz into cache " + cache; data.Source != want {
		t.Errorf("Source = %q, want %q", data.Source, want)
	}
	if data.Train.N != 20 || data.Test.N != 4 {
		t.Errorf("N = %d, %d, want 20, 4", data.Train.N, data.Test.N)
	}
	got := listFiles(t, cache)
	slices.Sort(got)
	want := []string{"cifar-10-batches-bin/batches.meta.txt", "cifar-10-batches-bin/data_batch_1.bin", "cifar-10-batches-bin/data_batch_2.bin",
		"cifar-10-batches-bin/data_batch_3.bin", "cifar-10-batches-bin/data_batch_4.bin", "cifar-10-batches-bin/data_batch_5.bin",
		"cifar-10-batches-bin/test_batch.bin", "cifar-10-binary.tar.gz"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("cache files mismatch (-want +got):\n%s", diff)
	}

	// A damaged extraction is replaced from the verified archive, without a download.
	writeFile(t, filepath.Join(cache, "cifar-10-batches-bin", "data_batch_2.bin"), []byte("junk"))
	before := srv.requests.Load()
	data, err = load(&spec, opts)
	if err != nil {
		t.Fatal(err)
	}
	if data.Source != "cache "+cache || data.Train.N != 20 {
		t.Errorf("after repair: Source %q, N %d; want the cache and 20", data.Source, data.Train.N)
	}
	if n := srv.requests.Load() - before; n != 0 {
		t.Errorf("repair sent %d requests, want 0", n)
	}
}
