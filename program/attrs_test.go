package program

import (
	"errors"
	"testing"

	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/google/go-cmp/cmp"

	"github.com/prunelab/prunelab/internal/gomlxfix"
)

// TestReadArgs checks that readArgs fills an op through its read function and that a node laid out
// otherwise than read expects is an error wrapping ErrGoMLXChanged (and gomlxfix's). The reader
// itself is tested in package gomlxfix.
func TestReadArgs(t *testing.T) {
	g := graph.NewGraph(simplego.GetBackend(), "readArgs")
	x := graph.Parameter(g, "x", shapes.Make(dtypes.Float32, 2, 3))
	slice := graph.Slice(x, graph.AxisRange(), graph.AxisRange(1, 3))

	var op Op
	if err := readArgs(slice, &op, opSpecs["Slice"].read); err != nil {
		t.Fatalf("readArgs(Slice node): %v", err)
	}
	want := Op{Starts: []int{0, 1}, Limits: []int{2, 3}, Strides: []int{1, 1}}
	if diff := cmp.Diff(want, op); diff != "" {
		t.Errorf("readArgs(Slice node): -want +got:\n%s", diff)
	}

	err := readArgs(graph.Add(x, x), &op, opSpecs["Slice"].read)
	if !errors.Is(err, ErrGoMLXChanged) || !errors.Is(err, gomlxfix.ErrGoMLXChanged) {
		t.Errorf("readArgs(Add node as a Slice) = %v, want an error wrapping ErrGoMLXChanged", err)
	}
}
