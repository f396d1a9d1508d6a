package program

import (
	"fmt"
	"slices"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// Values reads the program's variables from ctx as float32 slices keyed by path (a copy). Every
// variable must exist with the declared shape and be float32.
func (p *Program) Values(ctx *context.Context) (map[string][]float32, error) {
	out := make(map[string][]float32, len(p.Variables))
	for _, pv := range p.Variables {
		scope, name := context.SplitScope(pv.Path)
		v := ctx.GetVariableByScopeAndName(scope, name)
		if v == nil {
			return nil, fmt.Errorf("program: variable %s is not in the context", pv.Path)
		}
		if !slices.Equal(v.Shape().Dimensions, pv.Dims) || v.DType() != dtypes.Float32 || pv.DType != dtypes.Float32 {
			return nil, fmt.Errorf("program: variable %s is %s, the program reads %s%v (float32 only)", pv.Path, v.Shape(),
				pv.DType, pv.Dims)
		}
		t, err := v.Value()
		if err != nil {
			return nil, fmt.Errorf("program: variable %s: %w", pv.Path, err)
		}
		data, err := tensors.CopyFlatData[float32](t)
		if err != nil {
			return nil, fmt.Errorf("program: variable %s: %w", pv.Path, err)
		}
		out[pv.Path] = data
	}
	return out, nil
}

// NewContext returns a new context holding the program's variables with the given values (float32,
// row-major, keyed by path), non-trainable: a context to run the program with [Program.Build].
func (p *Program) NewContext(values map[string][]float32) (*context.Context, error) {
	ctx := context.New()
	if err := p.SetValues(ctx, values); err != nil {
		return nil, err
	}
	return ctx, nil
}

// SetValues creates or replaces the program's variables in ctx with the given values.
func (p *Program) SetValues(ctx *context.Context, values map[string][]float32) error {
	for _, pv := range p.Variables {
		data, ok := values[pv.Path]
		if !ok {
			return fmt.Errorf("program: no value for variable %s", pv.Path)
		}
		n := 1
		for _, d := range pv.Dims {
			n *= d
		}
		if len(data) != n || pv.DType != dtypes.Float32 {
			return fmt.Errorf("program: variable %s: %d values for %s%v", pv.Path, len(data), pv.DType, pv.Dims)
		}
		t := tensors.FromFlatDataAndDimensions(slices.Clone(data), pv.Dims...)
		scope, name := context.SplitScope(pv.Path)
		if v := ctx.GetVariableByScopeAndName(scope, name); v != nil {
			if !slices.Equal(v.Shape().Dimensions, pv.Dims) {
				if err := ctx.DeleteVariable(scope, name); err != nil {
					return fmt.Errorf("program: variable %s: %w", pv.Path, err)
				}
			} else {
				if err := v.SetValue(t); err != nil {
					return fmt.Errorf("program: variable %s: %w", pv.Path, err)
				}
				continue
			}
		}
		v := ctx.InAbsPath(scope).Checked(false).VariableWithValue(name, t)
		v.Trainable = false
	}
	return nil
}
