package lottery

import (
	"bytes"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"strings"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/prunelab/prunelab/internal/atomicfile"
)

// ErrCorrupt is wrapped by errors about run files that exist but cannot be read back: a corrupt or
// partial level. Such files are never overwritten: move them away to redo the level.
var ErrCorrupt = errors.New("corrupt run file")

// weightsMagic starts a weights file; a CRC-32C of the rest follows it.
const weightsMagic = "PLWTS001"

// savedVar is one variable of a weights file.
type savedVar struct {
	Path   string
	Shape  []int
	Values []float32
}

// modelVariables lists the model's own variables (weights, biases, normalization statistics) of a
// context where only the model has run so far (see training.Session.InitVariables): everything but the
// pruning masks and the random-number state. Optimizer state and metrics created later are left out.
func modelVariables(ctx *context.Context) []string {
	var paths []string
	for v := range ctx.IterVariables() {
		scope := v.Scope()
		if scope == "/pruning" || strings.HasPrefix(scope, "/pruning/") || strings.HasPrefix(v.Name(), "#") {
			continue
		}
		if v.Shape().DType == dtypes.Float32 {
			paths = append(paths, v.ScopeAndName())
		}
	}
	return paths
}

// saveWeights writes the variables named by paths (see modelVariables) to path, atomically, with a
// checksum.
func saveWeights(path string, ctx *context.Context, paths []string) error {
	var vars []savedVar
	for _, p := range paths {
		v := ctx.GetVariableByScopeAndName(context.SplitScope(p))
		if v == nil {
			return fmt.Errorf("lottery: saving weights: variable %s vanished", p)
		}
		t, err := v.Value()
		if err != nil {
			return fmt.Errorf("lottery: reading %s: %w", v.ScopeAndName(), err)
		}
		vars = append(vars, savedVar{Path: v.ScopeAndName(), Shape: t.Shape().Dimensions, Values: tensors.MustCopyFlatData[float32](t)})
	}
	var body bytes.Buffer
	if err := gob.NewEncoder(&body).Encode(vars); err != nil {
		return fmt.Errorf("lottery: encoding weights: %w", err)
	}
	return atomicfile.Write(path, func(w io.Writer) error {
		var head [12]byte
		copy(head[:], weightsMagic)
		binary.LittleEndian.PutUint32(head[8:], crc32.Checksum(body.Bytes(), crc32.MakeTable(crc32.Castagnoli)))
		if _, err := w.Write(head[:]); err != nil {
			return err
		}
		_, err := w.Write(body.Bytes())
		return err
	})
}

// readWeights reads a weights file, verifying its checksum.
func readWeights(path string) ([]savedVar, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("lottery: %w", err)
	}
	if len(b) < 12 || string(b[:8]) != weightsMagic {
		return nil, fmt.Errorf("lottery: %s: %w: not a weights file", path, ErrCorrupt)
	}
	if crc32.Checksum(b[12:], crc32.MakeTable(crc32.Castagnoli)) != binary.LittleEndian.Uint32(b[8:12]) {
		return nil, fmt.Errorf("lottery: %s: %w: checksum mismatch (partial or damaged file)", path, ErrCorrupt)
	}
	var vars []savedVar
	if err := gob.NewDecoder(bytes.NewReader(b[12:])).Decode(&vars); err != nil {
		return nil, fmt.Errorf("lottery: %s: %w: %v", path, ErrCorrupt, err)
	}
	return vars, nil
}

// loadWeights sets the model variables of ctx from a weights file. Every saved variable must exist in
// ctx with the same shape.
func loadWeights(path string, ctx *context.Context) error {
	vars, err := readWeights(path)
	if err != nil {
		return err
	}
	for _, sv := range vars {
		v := ctx.GetVariableByScopeAndName(context.SplitScope(sv.Path))
		if v == nil {
			return fmt.Errorf("lottery: %s: variable %s is not in the model", path, sv.Path)
		}
		if fmt.Sprint(v.Shape().Dimensions) != fmt.Sprint(sv.Shape) {
			return fmt.Errorf("lottery: %s: variable %s has shape %v, the model %v", path, sv.Path, sv.Shape, v.Shape().Dimensions)
		}
		if err := v.SetValue(tensors.FromFlatDataAndDimensions(sv.Values, sv.Shape...)); err != nil {
			return fmt.Errorf("lottery: setting %s: %w", sv.Path, err)
		}
	}
	return nil
}
