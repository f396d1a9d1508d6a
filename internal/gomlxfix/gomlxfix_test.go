package gomlxfix

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/google/go-cmp/cmp"
)

// registered reports whether graph.VJPRegistration holds vjp for nodeType.
func registered(nodeType graph.NodeType, vjp graph.VJP) bool {
	return reflect.ValueOf(graph.VJPRegistration[nodeType]).Pointer() == reflect.ValueOf(vjp).Pointer()
}

func TestInstallAndRestore(t *testing.T) {
	t.Cleanup(Restore)
	Restore()
	stockDot, stockDotGeneral := graph.VJPRegistration[graph.NodeTypeDot], graph.VJPRegistration[graph.NodeTypeDotGeneral]
	if stockDot == nil || stockDotGeneral == nil {
		t.Fatal("GoMLX registers no gradient for Dot or DotGeneral")
	}
	installed := func() []bool {
		var on []bool
		for _, w := range Workarounds() {
			on = append(on, w.Installed)
		}
		return on
	}

	for range 2 { // idempotent
		InstallFastDotGradient()
		if !registered(graph.NodeTypeDot, fastDotVJP) || !registered(graph.NodeTypeDotGeneral, fastDotGeneralVJP) {
			t.Fatal("InstallFastDotGradient did not register the fast rules")
		}
	}
	if diff := cmp.Diff(append([]bool{true}, make([]bool, len(registry)-1)...), installed()); diff != "" {
		t.Errorf("Workarounds().Installed after InstallFastDotGradient: -want +got:\n%s", diff)
	}
	for range 2 {
		RestoreStockDotGradient()
		if !registered(graph.NodeTypeDot, stockDot) || !registered(graph.NodeTypeDotGeneral, stockDotGeneral) {
			t.Fatal("RestoreStockDotGradient did not put the stock rules back")
		}
	}
	for range 2 {
		Install()
		if !registered(graph.NodeTypeDotGeneral, fastDotGeneralVJP) {
			t.Fatal("Install did not install fast-dot-gradient")
		}
	}
	Restore()
	if !registered(graph.NodeTypeDot, stockDot) || !registered(graph.NodeTypeDotGeneral, stockDotGeneral) {
		t.Fatal("Restore did not put the stock rules back")
	}
	if diff := cmp.Diff(make([]bool, len(registry)), installed()); diff != "" {
		t.Errorf("Workarounds().Installed after Restore: -want +got:\n%s", diff)
	}
}

// TestInstallConcurrently calls the functions of this package from several goroutines at once; run
// with -race to check the locking. It ends installed, whatever the interleaving.
func TestInstallConcurrently(t *testing.T) {
	t.Cleanup(Restore)
	Restore()
	stockDotGeneral := graph.VJPRegistration[graph.NodeTypeDotGeneral]
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 100 {
				switch i % 4 {
				case 0:
					Install()
				case 1:
					Restore()
				case 2:
					InstallFastDotGradient()
				case 3:
					_ = Workarounds()
				}
			}
		})
	}
	wg.Wait()
	Install()
	if !registered(graph.NodeTypeDotGeneral, fastDotGeneralVJP) {
		t.Error("not installed after concurrent calls and a final Install")
	}
	Restore()
	if !registered(graph.NodeTypeDotGeneral, stockDotGeneral) {
		t.Error("stock rule lost after concurrent calls")
	}
}

func TestWorkaroundsDocumented(t *testing.T) {
	seen := map[string]bool{}
	for _, w := range Workarounds() {
		if w.Name == "" || w.Upstream == "" {
			t.Errorf("workaround %+v lacks a name or an upstream note", w)
		}
		if seen[w.Name] {
			t.Errorf("workaround name %q repeated", w.Name)
		}
		seen[w.Name] = true
	}
}

// TestGoMLXVersion is a tripwire: the workarounds replace the behaviour of GoMLX GoMLXVersion and
// read its internals. When go.mod moves to another version, check each workaround against it (drop
// those GoMLX fixed), then update GoMLXVersion. (Test binaries carry no dependency versions in
// their build information, so this reads the module's go.mod.)
func TestGoMLXVersion(t *testing.T) {
	goMod, err := os.ReadFile(filepath.Join("..", "..", "go.mod"))
	if err != nil {
		t.Fatalf("reading the module's go.mod: %v", err)
	}
	version, ok := requiredVersion(string(goMod), "github.com/gomlx/gomlx")
	if !ok {
		t.Fatal("go.mod does not require github.com/gomlx/gomlx")
	}
	if version != GoMLXVersion {
		t.Errorf("go.mod requires GoMLX %s, but the workarounds were written for %s: check each one "+
			"(see doc.go) against the new version, then update GoMLXVersion", version, GoMLXVersion)
	}
}

// requiredVersion returns the version of module that the go.mod text requires.
func requiredVersion(goMod, module string) (version string, ok bool) {
	for line := range strings.Lines(goMod) {
		fields := strings.Fields(strings.TrimPrefix(strings.TrimSpace(line), "require "))
		if len(fields) >= 2 && fields[0] == module {
			return fields[1], true
		}
	}
	return "", false
}

func TestRequiredVersion(t *testing.T) {
	const goMod = "module m\n\ngo 1.26\n\nrequire github.com/gomlx/gomlx-extra v1.0.0\n\n" +
		"require (\n\tgithub.com/gomlx/gomlx v0.27.0\n\tgithub.com/google/go-cmp v0.7.0 // indirect\n)\n"
	for _, tc := range []struct {
		module, version string
		ok              bool
	}{
		{"github.com/gomlx/gomlx", "v0.27.0", true},
		{"github.com/gomlx/gomlx-extra", "v1.0.0", true},
		{"github.com/google/go-cmp", "v0.7.0", true},
		{"github.com/gomlx/go-xla", "", false},
	} {
		version, ok := requiredVersion(goMod, tc.module)
		if version != tc.version || ok != tc.ok {
			t.Errorf("requiredVersion(%q) = %q, %v; want %q, %v", tc.module, version, ok, tc.version, tc.ok)
		}
	}
}

// setFor installs (on) or restores (!on) w and returns what puts its previous state back; tests
// that use it must not run in parallel.
func setFor(w *workaround, on bool) (putBack func()) {
	mu.Lock()
	was := w.installed
	mu.Unlock()
	setWorkaround(w, on)
	return func() { setWorkaround(w, was) }
}
