//go:build !(((linux && amd64) || darwin) && !noxla)

package backend

import "errors"

const xlaLinked = false

func installedPlugins() []string { return nil }

func autoInstall() error { return nil }

func disableAutoInstall() {}

// InstallXLA reports that this binary was built without XLA.
func InstallXLA(plugin, version string) error {
	return errors.New("backend: this binary was built with -tags noxla: rebuild with cgo to install and use XLA")
}
