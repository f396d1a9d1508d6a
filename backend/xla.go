//go:build ((linux && amd64) || darwin) && !noxla

package backend

import (
	"slices"

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
