package main

import (
	"fmt"
	"io"
	"runtime"

	"github.com/gomlx/gomlx/backends/simplego"

	"github.com/prunelab/prunelab/backend"
	"github.com/prunelab/prunelab/internal/gomlxfix"
)

func init() { commands["backend"] = backendCommand }

var backendCommand = command{
	summary: "show which GoMLX backend runs, and install the XLA plugin",
	usage:   backendUsage,
	run:     runBackend,
}

const backendUsage = `prunelab backend: say which backend Prunelab would compute on here and why, or install XLA.

Without flags it applies the same choice as every command (GOMLX_BACKEND; an installed XLA plugin;
GoMLX's bounded auto-install; else pure Go) and prints it. With -install it runs go-xla's installer,
which needs internet access: the Docker lab image does this at build time.

Examples:
  prunelab backend
  prunelab backend -install cpu
  prunelab backend -install cuda13 -jax 0.11.2
`

func runBackend(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("backend", backendUsage, stderr)
	install := fs.String("install", "", "install an XLA PJRT plugin: cpu, cuda13 or cuda12")
	jax := fs.String("jax", "", "the JAX release whose CUDA plugin to install (e.g. 0.11.2); required for cuda*")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *install != "" {
		if err := backend.InstallXLA(*install, *jax); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "installed the XLA %s plugin\n", *install)
	}
	b, err := backend.Default()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "backend %q: %s (%d CPUs, %s/%s)\n", b.Name(), backend.DefaultChoice().Reason, runtime.NumCPU(), runtime.GOOS, runtime.GOARCH)
	if _, pureGo := b.(*simplego.Backend); pureGo {
		fmt.Fprintf(stdout, "float32 matrix-product kernel: %s\n", gomlxfix.DotKernelName())
	}
	return nil
}
