package gomlxfix

import (
	"os"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/graph"
)

// TestEveryWorkaroundInDocGo checks that the package documentation describes every registered
// workaround by name.
func TestEveryWorkaroundInDocGo(t *testing.T) {
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range Workarounds() {
		if !strings.Contains(string(doc), `"`+w.Name+`"`) {
			t.Errorf("doc.go does not describe workaround %q", w.Name)
		}
		if !strings.Contains(w.Upstream, GoMLXVersion) {
			t.Errorf("workaround %q: upstream note %q does not name the GoMLX version", w.Name, w.Upstream)
		}
	}
}

// TestGradientWorkaroundsInstallAndRestore checks that Install registers the Slice, ConvGeneral and
// ReduceWindow rules and Restore puts GoMLX's back.
func TestGradientWorkaroundsInstallAndRestore(t *testing.T) {
	t.Cleanup(Restore)
	Restore()
	rules := map[graph.NodeType]graph.VJP{
		graph.NodeTypeSlice:        sliceVJP,
		graph.NodeTypeConvGeneral:  convVJP,
		graph.NodeTypeReduceWindow: poolVJP,
	}
	stock := map[graph.NodeType]graph.VJP{}
	for nodeType := range rules {
		stock[nodeType] = graph.VJPRegistration[nodeType]
		if stock[nodeType] == nil {
			t.Fatalf("GoMLX registers no gradient for %s", nodeType)
		}
	}
	for range 2 {
		Install()
		for nodeType, vjp := range rules {
			if !registered(nodeType, vjp) {
				t.Errorf("Install did not register the %s rule", nodeType)
			}
		}
	}
	Restore()
	for nodeType, vjp := range stock {
		if !registered(nodeType, vjp) {
			t.Errorf("Restore did not put back GoMLX's %s rule", nodeType)
		}
	}
}
