package datasets

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// toySpec returns an MNIST-like spec with only the sources a test sets, for toy files whose
// checksums it records.
func toySpec(t *testing.T, files map[string][]byte) *datasetSpec {
	spec := fakeIDXSpec(t, files)
	spec.downloads = nil // Download is not tested here.
	return spec
}

func toyFileSpecs(spec *datasetSpec, files map[string][]byte) []fileSpec {
	var out []fileSpec
	for _, base := range spec.idx {
		name := base + ".gz"
		out = append(out, fileSpec{name, sha256Hex(files[name]), int64(len(files[name]))})
	}
	return out
}

func TestSystemPackageSource(t *testing.T) {
	isolateEnv(t)
	dir := t.TempDir()
	files := writeIDXSet(t, dir, 20, true)
	spec := toySpec(t, files)
	spec.system = &systemSource{pkg: "dataset-toy", dir: dir, files: toyFileSpecs(spec, files)}

	data, err := load(spec, offline(t))
	if err != nil {
		t.Fatal(err)
	}
	if want := "package dataset-toy (" + dir + ")"; data.Source != want {
		t.Errorf("Source = %q, want %q", data.Source, want)
	}

	// A file that differs from the packaged one is reported, and the chain goes on.
	spec.system.files[3].sha256 = strings.Repeat("0", 64)
	_, err = load(spec, offline(t))
	if !errors.Is(err, ErrChecksum) || !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v, want ErrChecksum and ErrNotFound", err)
	}
	if want := "package dataset-toy " + dir + " (datasets: " + filepath.Join(dir, "t10k-labels-idx1-ubyte.gz") + ": sha256 "; !strings.Contains(err.Error(), want) {
		t.Errorf("err = %q\nwant it to contain %q", err, want)
	}

	spec.system.dir = filepath.Join(dir, "absent")
	_, err = load(spec, offline(t))
	if want := "package dataset-toy (not installed: no " + spec.system.dir + ")"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("err = %v, want it to contain %q", err, want)
	}
}

// fakeGo writes a shell script that acts as `go mod download -json`: it records its arguments
// and GOPROXY, and prints out (exiting with code).
func fakeGo(t *testing.T, out string, code int) (script, record string) {
	if runtime.GOOS == "windows" {
		t.Skip("needs a shell script")
	}
	dir := t.TempDir()
	script, record = filepath.Join(dir, "go"), filepath.Join(dir, "record")
	body := "#!/bin/sh\necho \"$* GOPROXY=$GOPROXY GOFLAGS=$GOFLAGS\" > " + record + "\ncat <<'JSON'\n" + out + "\nJSON\nexit " + string(rune('0'+code)) + "\n"
	writeFile(t, script, []byte(body))
	if err := os.Chmod(script, 0o755); err != nil {
		t.Fatal(err)
	}
	return script, record
}

func TestGoModuleSource(t *testing.T) {
	isolateEnv(t)
	modDir := t.TempDir()
	files := writeIDXSet(t, filepath.Join(modDir, "data"), 20, true)
	spec := toySpec(t, files)
	spec.goModule = &goModuleSource{path: "example.com/toy", version: "v1.0.0", dir: "data", files: toyFileSpecs(spec, files)}

	t.Run("found", func(t *testing.T) {
		script, record := fakeGo(t, `{"Path": "example.com/toy", "Version": "v1.0.0", "Dir": "`+modDir+`"}`, 0)
		opts := offline(t)
		opts.GoCommand = script
		data, err := load(spec, opts)
		if err != nil {
			t.Fatal(err)
		}
		if want := "Go module example.com/toy@v1.0.0 (" + modDir + ")"; data.Source != want {
			t.Errorf("Source = %q, want %q", data.Source, want)
		}
		args, _ := os.ReadFile(record)
		// NoDownload keeps the go command off the network.
		if want := "mod download -json example.com/toy@v1.0.0 GOPROXY=off GOFLAGS="; strings.TrimSpace(string(args)) != want {
			t.Errorf("go command ran as %q, want %q", args, want)
		}
	})
	t.Run("proxy allowed", func(t *testing.T) {
		t.Setenv("GOPROXY", "https://proxy.example")
		script, record := fakeGo(t, `{"Dir": "`+modDir+`"}`, 0)
		opts := offline(t)
		opts.GoCommand, opts.NoDownload = script, false
		if _, err := load(spec, opts); err != nil {
			t.Fatal(err)
		}
		if args, _ := os.ReadFile(record); !strings.Contains(string(args), "GOPROXY=https://proxy.example") {
			t.Errorf("go command ran as %q, want the caller's GOPROXY", args)
		}
	})
	t.Run("go reports an error", func(t *testing.T) {
		script, _ := fakeGo(t, `{"Path": "example.com/toy", "Error": "module lookup disabled by GOPROXY=off"}`, 1)
		opts := offline(t)
		opts.GoCommand = script
		_, err := load(spec, opts)
		if want := "Go module example.com/toy@v1.0.0 (" + script + " mod download: module lookup disabled by GOPROXY=off)"; err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v\nwant it to contain %q", err, want)
		}
	})
	t.Run("checksum", func(t *testing.T) {
		script, _ := fakeGo(t, `{"Dir": "`+modDir+`"}`, 0)
		opts := offline(t)
		opts.GoCommand = script
		bad := *spec
		badMod := *spec.goModule
		badMod.files = append([]fileSpec(nil), badMod.files...)
		badMod.files[0].sha256 = strings.Repeat("f", 64)
		bad.goModule = &badMod
		_, err := load(&bad, opts)
		if !errors.Is(err, ErrChecksum) {
			t.Errorf("err = %v, want ErrChecksum", err)
		}
	})
}
