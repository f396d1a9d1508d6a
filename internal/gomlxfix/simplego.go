package gomlxfix

import (
	"fmt"
	"reflect"
	"unsafe"

	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// SimpleGo keeps its per-dtype kernels in registries of type simplego.DTypeMap, which GoMLX v0.26.0
// exports together with their Register method, but the registries themselves are unexported package
// variables. The linknames below reach the ones the fast-dot-kernel workaround replaces entries of;
// each kernelSwap checks the registries it uses by name before touching them.

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

// InstallKernels installs every workaround of this package that replaces SimpleGo kernels rather
// than gradients: [InstallFastDotKernel], [InstallFastCopies], [InstallFastReductions],
// [InstallFastBinaryOps] and [InstallFastConv]. It changes nothing for other backends. The same rules as for [Install] apply.
func InstallKernels() {
	mu.Lock()
	defer mu.Unlock()
	for _, w := range []*workaround{fastDotKernel, fastCopies, fastReductions, fastBinary, fastConv} {
		w.set(true)
	}
}

// kernelSwap replaces float32 entries of SimpleGo's kernel registries, as vjpSwap replaces
// gradient rules. replacements checks the registries and builds every replacement (from the stock
// entries) before install changes any of them, so a check that panics leaves SimpleGo as it was.
type kernelSwap struct {
	replacements func() map[*simplego.DTypeMap]any
	putBack      func() // nil when not installed
}

func (s *kernelSwap) install() {
	replacements := s.replacements()
	var undo []func()
	for registry, replacement := range replacements {
		stock, stockPriority := registry.Map[dtypes.Float32], registry.Priority[dtypes.Float32]
		undo = append(undo, func() { registry.Map[dtypes.Float32], registry.Priority[dtypes.Float32] = stock, stockPriority })
		registry.Map[dtypes.Float32], registry.Priority[dtypes.Float32] = replacement, simplegoUserPriority
	}
	s.putBack = func() {
		for _, f := range undo {
			f()
		}
	}
}

func (s *kernelSwap) restore() {
	s.putBack()
	s.putBack = nil
}
