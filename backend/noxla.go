//go:build !(((linux && amd64) || darwin) && !noxla)

package backend

const xlaLinked = false

func installedPlugins() []string { return nil }

func autoInstall() error { return nil }

func disableAutoInstall() {}
