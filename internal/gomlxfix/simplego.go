package gomlxfix

import (
	"fmt"
	"reflect"
	"unsafe"

	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// SimpleGo keeps its per-dtype kernels in registries of type simplego.DTypeMap, which GoMLX v0.26.0
// exports together with their Register method, but the registries themselves are unexported package
// variables. The linknames below reach the ones the fast-dot-kernel workaround replaces entries of;
// installFastDotKernel checks each registry's name before touching it.

//go:linkname simplegoDotKernels github.com/gomlx/gomlx/backends/simplego.dotGeneralKernelDTypeMap
var simplegoDotKernels *simplego.DTypeMap

//go:linkname simplegoDotNormalized github.com/gomlx/gomlx/backends/simplego.dotGeneralNormalizedDTypeMap
var simplegoDotNormalized *simplego.DTypeMap

//go:linkname simplegoFlatToBlock github.com/gomlx/gomlx/backends/simplego.dotGeneralFlatToBlockDTypeMap
var simplegoFlatToBlock *simplego.DTypeMap

//go:linkname simplegoNormalize github.com/gomlx/gomlx/backends/simplego.dotGeneralNormalizeShapeDTypeMap
var simplegoNormalize *simplego.DTypeMap

//go:linkname simplegoFill github.com/gomlx/gomlx/backends/simplego.fillBufferDTypeMap
var simplegoFill *simplego.DTypeMap

// simplegoUserPriority is SimpleGo's priorityUser (dtypes_generics.go): above its generic, typed
// and architecture-specific registrations.
const simplegoUserPriority = 100

// checkRegistry panics with ErrGoMLXChanged unless registry is SimpleGo's registry called name.
func checkRegistry(registry *simplego.DTypeMap, name string) {
	if registry == nil || registry.Name != name {
		panic(fmt.Errorf("%w: SimpleGo has no kernel registry %q", ErrGoMLXChanged, name))
	}
}

// bufferLayout holds the offsets of the unexported fields of simplego.Buffer that the kernels read:
// flat (the storage, an any holding a []T) and shape. GoMLX v0.26.0 gives no accessor for them
// that does not need the Backend.
var bufferLayout = func() (layout struct {
	ok                      bool
	flatOffset, shapeOffset uintptr
}) {
	t := reflect.TypeFor[simplego.Buffer]()
	flat, okFlat := t.FieldByName("flat")
	shape, okShape := t.FieldByName("shape")
	layout.ok = okFlat && okShape && flat.Type == reflect.TypeFor[any]() && shape.Type == reflect.TypeFor[shapes.Shape]()
	layout.flatOffset, layout.shapeOffset = flat.Offset, shape.Offset
	return layout
}()

// checkBufferLayout panics with ErrGoMLXChanged if simplego.Buffer lacks the fields bufferLayout reads.
func checkBufferLayout() {
	if !bufferLayout.ok {
		panic(fmt.Errorf("%w: simplego.Buffer has no fields flat (any) and shape (shapes.Shape)", ErrGoMLXChanged))
	}
}

// float32s returns the storage of a float32 SimpleGo buffer.
func float32s(buffer *simplego.Buffer) []float32 {
	flat := *(*any)(unsafe.Add(unsafe.Pointer(buffer), bufferLayout.flatOffset))
	floats, ok := flat.([]float32)
	if !ok {
		panic(fmt.Errorf("%w: a float32 simplego.Buffer holds a %T", ErrGoMLXChanged, flat))
	}
	return floats
}

// bufferShape returns the shape of a SimpleGo buffer.
func bufferShape(buffer *simplego.Buffer) shapes.Shape {
	return *(*shapes.Shape)(unsafe.Add(unsafe.Pointer(buffer), bufferLayout.shapeOffset))
}
