//go:build xla

package pruning

// Built with -tags xla, the tests can run on the XLA backend:
// PRUNING_TEST_BACKEND=xla:<plugin> go test -tags xla ./pruning/
import _ "github.com/gomlx/gomlx/backends/xla"
