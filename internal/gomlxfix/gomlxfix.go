package gomlxfix

import (
	"errors"
	"sync"
)

// GoMLXVersion is the GoMLX release whose behaviour the workarounds of this package replace and
// whose internals they read. A test fails when go.mod requires another version, so that each
// workaround gets checked (and maybe dropped) when GoMLX is upgraded.
const GoMLXVersion = "v0.26.0"

// ErrGoMLXChanged is wrapped by the panics of this package's graph-building code when GoMLX's
// internals (for instance the unexported inputs of a DotGeneral node) are not laid out the way
// they are in [GoMLXVersion].
var ErrGoMLXChanged = errors.New("gomlxfix: GoMLX internals differ from " + GoMLXVersion)

// Workaround describes one workaround of this package.
type Workaround struct {
	// Name identifies the workaround, e.g. "fast-dot-gradient".
	Name string
	// Upstream is the GoMLX behaviour the workaround replaces, with the version it was seen in:
	// once GoMLX changes it, the workaround can go.
	Upstream string
	// Installed reports whether the workaround was installed when [Workarounds] was called.
	Installed bool
}

// workaround is one entry of the registry: how to install it and how to bring back what it replaced.
type workaround struct {
	name, upstream string
	// install and restore are called with mu held, install only when not installed and restore
	// only when installed.
	install, restore func()
	installed        bool
}

var (
	// mu guards registry and everything the install and restore functions touch.
	mu sync.Mutex

	// registry holds every workaround, in the order Install applies them.
	registry = []*workaround{fastDotGradient, fastDotKernel, fastCopies, fastReductions, fastBinary, fastConv, firstExtremeGradient, sliceGradient, convGradient, poolGradient}
)

// set installs (on) or restores (!on) w; mu must be held.
func (w *workaround) set(on bool) {
	if w.installed == on {
		return
	}
	if on {
		w.install()
	} else {
		w.restore()
	}
	w.installed = on
}

// setWorkaround installs or restores w, holding mu.
func setWorkaround(w *workaround, on bool) {
	mu.Lock()
	defer mu.Unlock()
	w.set(on)
}

// Install installs every workaround of this package (see [Workarounds]). It is idempotent and safe
// to call concurrently, but it changes GoMLX's global tables: call it before building graphs, never
// while another goroutine builds one. See the package documentation.
func Install() {
	mu.Lock()
	defer mu.Unlock()
	for _, w := range registry {
		w.set(true)
	}
}

// Restore brings back the stock GoMLX behaviour that every installed workaround replaced. It is
// meant for tests and speed comparisons; the same rules as for [Install] apply.
func Restore() {
	mu.Lock()
	defer mu.Unlock()
	for i := len(registry) - 1; i >= 0; i-- {
		registry[i].set(false)
	}
}

// Workarounds lists the workarounds of this package, in the order [Install] applies them, and
// whether each is installed now.
func Workarounds() []Workaround {
	mu.Lock()
	defer mu.Unlock()
	list := make([]Workaround, len(registry))
	for i, w := range registry {
		list[i] = Workaround{Name: w.name, Upstream: w.upstream, Installed: w.installed}
	}
	return list
}
