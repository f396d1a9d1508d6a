//go:build ((linux && amd64) || darwin) && !noxla

package backend

import (
	"fmt"
	"path/filepath"
	"slices"

	"github.com/gomlx/go-xla/pkg/installer"
	"github.com/gomlx/go-xla/pkg/pjrt"
	"github.com/gomlx/gomlx/backends/xla"
)

const xlaLinked = true

// installedPlugins lists installed PJRT plugins without triggering GoMLX's auto-install.
func installedPlugins() []string {
	var names []string
	for name := range pjrt.AvailablePlugins() {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

func autoInstall() error { return xla.AutoInstall() }

func disableAutoInstall() { xla.EnableAutoInstall(false) }

// InstallXLA installs an XLA PJRT plugin with go-xla's installer (the one GoMLX's auto-install uses)
// into ~/.local/lib/go-xla: "cpu" (the plugin version pinned by go-xla v0.1.4) or "cuda13"/"cuda12"
// (the plugin and NVIDIA libraries of the given JAX release, e.g. "0.11.2"). It needs internet access.
func InstallXLA(plugin, version string) error {
	dir, err := installer.DefaultHomeLibPath()
	if err != nil {
		return fmt.Errorf("backend: %w", err)
	}
	dir = filepath.Join(dir, "go-xla")
	switch plugin {
	case "cpu":
		err = installer.CPUAutoInstall(dir, true, installer.Normal)
	case "cuda13", "cuda12":
		if version == "" {
			return fmt.Errorf("backend: installing %s needs a pinned JAX version, such as 0.11.2", plugin)
		}
		err = installer.CudaInstall(plugin, version, dir, true, installer.Normal)
	default:
		return fmt.Errorf("backend: unknown XLA plugin %q (known: cpu, cuda13, cuda12)", plugin)
	}
	if err != nil {
		return fmt.Errorf("backend: installing the XLA %s plugin: %w", plugin, err)
	}
	return nil
}
