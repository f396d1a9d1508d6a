package program

import (
	"fmt"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/prunelab/prunelab/internal/gomlxfix"
)

// readArgs fills op's attributes from the arguments node was built with, by read. GoMLX v0.26.0
// keeps them in unexported fields, which only [gomlxfix.NodeArgs] reads (package reflect, no
// unsafe). A layout other than the expected one is an error wrapping both [ErrGoMLXChanged] and
// gomlxfix.ErrGoMLXChanged: this package's callers branch on its own sentinel, while the message of
// the wrapped error names the node type, the GoMLX struct and the field at fault. Keeping two
// sentinels rather than aliasing one to the other keeps this package's errors and their text its
// own ("program: ..."), as gomlxfix is internal.
func readArgs(node *graph.Node, op *Op, read func(a *gomlxfix.NodeArgs, op *Op)) error {
	a := gomlxfix.ArgsOf(node)
	if a.Err() == nil {
		read(a, op)
	}
	if err := a.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrGoMLXChanged, err)
	}
	return nil
}
