package datasets

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// loadGoModule loads a data set from a Go module: `go mod download -json path@version` finds the
// module in the module cache or fetches it from the module proxy (the go command checks the
// module's checksum), and each file is then checked against its own SHA-256.
func loadGoModule(spec *datasetSpec, m *goModuleSource, opts Options, offline bool) (*Data, error) {
	dir, err := goModuleDir(m.path+"@"+m.version, opts, offline)
	if err != nil {
		return nil, err
	}
	source := fmt.Sprintf("Go module %s@%s (%s)", m.path, m.version, dir)
	data, err := loadVerified(spec, filepath.Join(dir, m.dir), m.files, source)
	if err != nil && errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("module in %s lacks the data files: %w", dir, err)
	}
	return data, err
}

// goModuleDir runs `go mod download -json module` and returns the module's directory. It runs in
// an empty temporary directory (no go.mod or go.work applies), with the local toolchain and no
// GOFLAGS; offline sets GOPROXY=off, so that only the module cache is read.
func goModuleDir(module string, opts Options, offline bool) (string, error) {
	goCmd := opts.GoCommand
	if goCmd == "" {
		goCmd = "go"
	}
	goPath, err := exec.LookPath(goCmd)
	if err != nil {
		return "", missing("go command: %v", err)
	}
	tmp, err := os.MkdirTemp("", "prunelab-gomod-")
	if err != nil {
		return "", fmt.Errorf("datasets: %w", err)
	}
	defer os.RemoveAll(tmp)
	ctx, cancel := context.WithTimeout(context.Background(), opts.timeout())
	defer cancel()
	cmd := exec.CommandContext(ctx, goPath, "mod", "download", "-json", module)
	cmd.Dir = tmp
	cmd.Env = append(os.Environ(), "GOFLAGS=", "GOTOOLCHAIN=local", "GOWORK=off", "GO111MODULE=on")
	if offline {
		cmd.Env = append(cmd.Env, "GOPROXY=off")
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, runErr := cmd.Output()
	var info struct{ Dir, Error string }
	jsonErr := json.Unmarshal(out, &info)
	switch {
	case ctx.Err() != nil:
		return "", missing("%s mod download %s: timed out after %v", goPath, module, opts.timeout())
	case jsonErr == nil && info.Error != "":
		return "", missing("%s mod download: %s", goPath, info.Error)
	case runErr != nil:
		return "", missing("%s mod download %s: %v: %s", goPath, module, runErr, strings.TrimSpace(stderr.String()))
	case jsonErr != nil || info.Dir == "":
		return "", missing("%s mod download %s: unexpected output %q", goPath, module, out)
	}
	return info.Dir, nil
}

// timeout returns Options.DownloadTimeout or its default.
func (opts Options) timeout() time.Duration {
	if opts.DownloadTimeout > 0 {
		return opts.DownloadTimeout
	}
	return 10 * time.Minute
}
