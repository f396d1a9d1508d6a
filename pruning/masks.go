package pruning

import (
	"fmt"
	"slices"
	"strings"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// Mask is the mask of one variable in row-major order: Keep[i] is false where the weight is
// pruned (mask 0) and true where it is kept (mask 1).
type Mask struct {
	Shape []int
	Keep  []bool
}

// NewMask returns a mask of the given shape with every weight kept.
func NewMask(shape ...int) *Mask {
	n := 1
	for _, d := range shape {
		n *= d
	}
	keep := make([]bool, n)
	for i := range keep {
		keep[i] = true
	}
	return &Mask{Shape: slices.Clone(shape), Keep: keep}
}

// Size returns the number of entries.
func (m *Mask) Size() int { return len(m.Keep) }

// NumKept returns the number of kept (1) entries.
func (m *Mask) NumKept() int { return countTrue(m.Keep) }

// NumPruned returns the number of pruned (0) entries.
func (m *Mask) NumPruned() int { return m.Size() - m.NumKept() }

// Sparsity returns the fraction of pruned entries (0 for an empty mask).
func (m *Mask) Sparsity() float64 {
	if m.Size() == 0 {
		return 0
	}
	return float64(m.NumPruned()) / float64(m.Size())
}

// Clone returns a deep copy.
func (m *Mask) Clone() *Mask {
	return &Mask{Shape: slices.Clone(m.Shape), Keep: slices.Clone(m.Keep)}
}

// Validate checks that the shape is valid and matches the number of entries.
func (m *Mask) Validate() error {
	if m == nil {
		return fmt.Errorf("%w: nil mask", ErrInvalidMask)
	}
	n := 1
	for _, d := range m.Shape {
		if d < 0 {
			return fmt.Errorf("%w: negative dimension in shape %v", ErrInvalidMask, m.Shape)
		}
		n *= d
	}
	if n != len(m.Keep) {
		return fmt.Errorf("%w: shape %v has %d entries, mask has %d", ErrInvalidMask, m.Shape, n, len(m.Keep))
	}
	return nil
}

// MaskFromTensor converts a float tensor holding exactly 0 or 1 in each entry into a Mask.
// Any other value (0.5, NaN, -0 is accepted as 0) is an [ErrInvalidMask] naming its flat index.
func MaskFromTensor(t *tensors.Tensor) (*Mask, error) {
	values, err := tensorFloats(t)
	if err != nil {
		return nil, err
	}
	return maskFromFloats(t.Shape().Dimensions, values)
}

// MaskFromValues builds a mask from row-major values that must each be exactly 0 or 1.
func MaskFromValues(shape []int, values []float64) (*Mask, error) {
	m, err := maskFromFloats(shape, values)
	if err != nil {
		return nil, err
	}
	return m, m.Validate()
}

func maskFromFloats(shape []int, values []float64) (*Mask, error) {
	m := &Mask{Shape: slices.Clone(shape), Keep: make([]bool, len(values))}
	for i, x := range values {
		switch x {
		case 0:
		case 1:
			m.Keep[i] = true
		default:
			return nil, fmt.Errorf("%w: entry %d is %g, want exactly 0 or 1", ErrInvalidMask, i, x)
		}
	}
	return m, nil
}

// Values returns the mask as row-major 0/1 values.
func (m *Mask) Values() []float64 {
	v := make([]float64, len(m.Keep))
	for i, k := range m.Keep {
		if k {
			v[i] = 1
		}
	}
	return v
}

// MaskSet holds the masks of several variables keyed by variable path ("/fc0/dense/weights").
type MaskSet map[string]*Mask

// Paths returns the variable paths in sorted order.
func (s MaskSet) Paths() []string {
	paths := make([]string, 0, len(s))
	for p := range s {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	return paths
}

// Size returns the total number of entries.
func (s MaskSet) Size() int {
	n := 0
	for _, m := range s {
		n += m.Size()
	}
	return n
}

// NumPruned returns the total number of pruned entries.
func (s MaskSet) NumPruned() int {
	n := 0
	for _, m := range s {
		n += m.NumPruned()
	}
	return n
}

// Sparsity returns the fraction of all entries that are pruned.
func (s MaskSet) Sparsity() float64 {
	if s.Size() == 0 {
		return 0
	}
	return float64(s.NumPruned()) / float64(s.Size())
}

// Validate validates every mask.
func (s MaskSet) Validate() error {
	for _, p := range s.Paths() {
		if err := s[p].Validate(); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
	}
	return nil
}

// Clone returns a deep copy.
func (s MaskSet) Clone() MaskSet {
	c := make(MaskSet, len(s))
	for p, m := range s {
		c[p] = m.Clone()
	}
	return c
}

// tensorFloats copies a float32 or float64 tensor into a new []float64.
func tensorFloats(t *tensors.Tensor) ([]float64, error) {
	var out []float64
	var dtypeErr error
	err := t.ConstFlatData(func(flat any) {
		switch f := flat.(type) {
		case []float32:
			out = make([]float64, len(f))
			for i, x := range f {
				out[i] = float64(x)
			}
		case []float64:
			out = slices.Clone(f)
		default:
			dtypeErr = fmt.Errorf("%w: %s", ErrUnsupportedDType, t.Shape().DType)
		}
	})
	if err != nil {
		return nil, err
	}
	return out, dtypeErr
}

// floatsTensor makes a tensor of the given dtype (float32 or float64) and dimensions.
func floatsTensor(dtype dtypes.DType, dims []int, values []float64) (*tensors.Tensor, error) {
	switch dtype {
	case dtypes.Float32:
		f := make([]float32, len(values))
		for i, x := range values {
			f[i] = float32(x)
		}
		return tensors.FromFlatDataAndDimensions(f, dims...), nil
	case dtypes.Float64:
		return tensors.FromFlatDataAndDimensions(slices.Clone(values), dims...), nil
	default:
		return nil, fmt.Errorf("%w: %s", ErrUnsupportedDType, dtype)
	}
}

// variableFloats reads a variable's value as []float64.
func variableFloats(v *context.Variable) ([]float64, error) {
	t, err := v.Value()
	if err != nil {
		return nil, fmt.Errorf("pruning: %s: %w", v.ScopeAndName(), err)
	}
	values, err := tensorFloats(t)
	if err != nil {
		return nil, fmt.Errorf("pruning: %s: %w", v.ScopeAndName(), err)
	}
	return values, nil
}

// setVariableFloats sets a variable's value from []float64, keeping its dtype and shape.
func setVariableFloats(v *context.Variable, values []float64) error {
	t, err := floatsTensor(v.DType(), v.Shape().Dimensions, values)
	if err != nil {
		return fmt.Errorf("pruning: %s: %w", v.ScopeAndName(), err)
	}
	if err := v.SetValue(t); err != nil {
		return fmt.Errorf("pruning: %s: %w", v.ScopeAndName(), err)
	}
	return nil
}

// maskVariable returns the mask variable of the weight at path, or nil.
func maskVariable(ctx *context.Context, path string) *context.Variable {
	scope, name := context.SplitScope(path)
	ms, mn := maskLocation(scope, name)
	return ctx.GetVariableByScopeAndName(ms, mn)
}

// weightAndMask returns the weight and mask variables of a path, or an error wrapping ErrNoMask.
func weightAndMask(ctx *context.Context, path string) (w, m *context.Variable, err error) {
	scope, name := context.SplitScope(path)
	w = ctx.GetVariableByScopeAndName(scope, name)
	if w == nil {
		return nil, nil, fmt.Errorf("%w %q: no such variable; masked variables: %s", ErrUnknownLayer, path,
			maskedPaths(ctx))
	}
	m = maskVariable(ctx, path)
	if m == nil {
		return nil, nil, fmt.Errorf("%w: %s; masked variables: %s", ErrNoMask, path, maskedPaths(ctx))
	}
	if !m.Shape().Equal(w.Shape()) {
		return nil, nil, fmt.Errorf("%w: %s: mask shape %s differs from variable shape %s",
			ErrInvalidMask, path, m.Shape(), w.Shape())
	}
	return w, m, nil
}

// maskedPaths lists the masked variables of ctx for error messages.
func maskedPaths(ctx *context.Context) string {
	targets := Targets(ctx)
	if len(targets) == 0 {
		return "none (build the model with WrapModelFn or call AttachMasks first)"
	}
	paths := make([]string, len(targets))
	for i, t := range targets {
		paths[i] = t.Path()
	}
	return strings.Join(paths, ", ")
}

// createMask creates (if absent) the all-ones mask of variable w and marks it non-trainable.
func createMask(ctx *context.Context, w *context.Variable) (*context.Variable, error) {
	ms, mn := maskLocation(w.Scope(), w.Name())
	if m := ctx.GetVariableByScopeAndName(ms, mn); m != nil {
		if !m.Shape().Equal(w.Shape()) {
			return nil, fmt.Errorf("%w: %s: mask shape %s differs from variable shape %s",
				ErrInvalidMask, w.ScopeAndName(), m.Shape(), w.Shape())
		}
		m.Trainable = false
		return m, nil
	}
	ones, err := maskTensor(w.DType(), NewMask(w.Shape().Dimensions...))
	if err != nil {
		return nil, fmt.Errorf("pruning: %s: %w", w.ScopeAndName(), err)
	}
	m := ctx.InAbsPath(ms).Checked(false).VariableWithValue(mn, ones)
	m.Trainable = false
	return m, nil
}

// AttachMasks creates an all-ones mask for every existing variable of ctx that sel selects (and
// that has no mask yet), and returns the masked targets. Use it when the model variables exist
// before the training graph is built; [WrapModelFn] does the same at graph-building time.
// Masks must exist before a training graph is compiled for the per-step masking to include them.
func AttachMasks(ctx *context.Context, sel Selector) ([]Target, error) {
	targets, err := SelectTargets(ctx, sel)
	if err != nil {
		return nil, err
	}
	for _, t := range targets {
		w := ctx.GetVariableByScopeAndName(t.Scope, t.Name)
		if _, err := createMask(ctx, w); err != nil {
			return nil, err
		}
	}
	return Targets(ctx), nil
}

// GetMask returns the mask of the variable at path, validating that every entry is 0 or 1.
func GetMask(ctx *context.Context, path string) (*Mask, error) {
	_, m, err := weightAndMask(ctx, path)
	if err != nil {
		return nil, err
	}
	return readMask(path, m)
}

// GetMasks returns the masks of all targets of ctx.
func GetMasks(ctx *context.Context) (MaskSet, error) {
	set := make(MaskSet)
	for _, t := range Targets(ctx) {
		m, err := GetMask(ctx, t.Path())
		if err != nil {
			return nil, err
		}
		set[t.Path()] = m
	}
	return set, nil
}

// SetMasks sets the masks given (other masks are left alone) and immediately zeroes the pruned
// weights (w = w*mask), so no graph needs recompiling. Like torch's custom_from_mask. Every path
// must already have a mask ([ErrNoMask] otherwise) of the same shape ([ErrInvalidMask]).
// Nothing is changed if any mask is invalid.
func SetMasks(ctx *context.Context, masks MaskSet) error {
	if err := masks.Validate(); err != nil {
		return err
	}
	type pair struct {
		w, m *context.Variable
		mask *Mask
	}
	pairs := make([]pair, 0, len(masks))
	for _, p := range masks.Paths() {
		w, m, err := weightAndMask(ctx, p)
		if err != nil {
			return err
		}
		if !slices.Equal(masks[p].Shape, w.Shape().Dimensions) {
			return fmt.Errorf("%w: %s: mask shape %v, variable shape %v", ErrInvalidMask, p, masks[p].Shape,
				w.Shape().Dimensions)
		}
		pairs = append(pairs, pair{w, m, masks[p]})
	}
	for _, pr := range pairs {
		if err := writeMask(pr.m, pr.mask); err != nil {
			return err
		}
		if err := zeroPruned(pr.w, pr.mask); err != nil {
			return err
		}
	}
	return nil
}

// SetMaskFromTensor sets the mask of one variable from a tensor of 0s and 1s (validated) and
// zeroes the pruned weights.
func SetMaskFromTensor(ctx *context.Context, path string, mask *tensors.Tensor) error {
	m, err := MaskFromTensor(mask)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return SetMasks(ctx, MaskSet{path: m})
}

// ApplyMasks sets w = w*mask for every masked variable. Call it after setting weights yourself
// (rewinding to a snapshot, loading pre-pruning weights): the training graph re-applies masks
// only after each optimizer step, so the next step's forward pass would otherwise see them.
func ApplyMasks(ctx *context.Context) error {
	for _, t := range Targets(ctx) {
		w, _, err := weightAndMask(ctx, t.Path())
		if err != nil {
			return err
		}
		mask, err := GetMask(ctx, t.Path())
		if err != nil {
			return err
		}
		if err := zeroPruned(w, mask); err != nil {
			return err
		}
	}
	return nil
}

// RemoveMasks makes pruning permanent: it bakes the zeros into the weights (w = w*mask) and
// deletes every mask variable (like torch.nn.utils.prune.remove). Compiled training graphs
// still reference the masks: rebuild them (train.Trainer.ResetComputationGraphs) afterwards.
// Weights pruned before stay zero only until trained again.
func RemoveMasks(ctx *context.Context) error {
	if err := ApplyMasks(ctx); err != nil {
		return err
	}
	for _, t := range Targets(ctx) {
		ms, mn := maskLocation(t.Scope, t.Name)
		if err := ctx.DeleteVariable(ms, mn); err != nil {
			return fmt.Errorf("pruning: deleting mask of %s: %w", t.Path(), err)
		}
	}
	return nil
}

// PrunedNonZero counts the masked-out weights of ctx and how many of them are not zero: 0 unless
// something wrote the weights without re-applying the masks (see [ApplyMasks]).
func PrunedNonZero(ctx *context.Context) (pruned, nonZero int, err error) {
	for _, t := range Targets(ctx) {
		w, m, err := weightAndMask(ctx, t.Path())
		if err != nil {
			return 0, 0, err
		}
		mask, err := readMask(t.Path(), m)
		if err != nil {
			return 0, 0, err
		}
		values, err := variableFloats(w)
		if err != nil {
			return 0, 0, err
		}
		for i, k := range mask.Keep {
			if !k {
				pruned++
				if values[i] != 0 {
					nonZero++
				}
			}
		}
	}
	return pruned, nonZero, nil
}
