package gomlxfix_test

import (
	"fmt"

	"github.com/prunelab/prunelab/internal/gomlxfix"
)

func ExampleInstall() {
	// At the start of main, before any graph is built.
	gomlxfix.Install()
	defer gomlxfix.Restore() // only tests and speed comparisons go back

	for _, w := range gomlxfix.Workarounds() {
		fmt.Println(w.Name, w.Installed)
	}
	// Output:
	// fast-dot-gradient true
	// fast-dot-kernel true
	// fast-copies true
	// fast-reductions true
	// fast-binary-ops true
	// fast-conv-kernel true
	// first-extreme-gradient true
	// slice-gradient-without-pad true
	// conv-gradient true
	// pool-gradient true
}
