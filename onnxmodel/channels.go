package onnxmodel

import (
	"fmt"
	"maps"
	"slices"

	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/prunelab/prunelab/compact"
	"github.com/prunelab/prunelab/program"
	"github.com/prunelab/prunelab/pruning"
)

// ChannelPruning is what [Model.PruneChannels] did.
type ChannelPruning struct {
	// Masks are the weight masks set (pruned output units of each layer's weight).
	Masks pruning.MaskSet
	// Channels counts the coupled channels; Pruned those whose producers are now all zero.
	Channels, Pruned int
	// Zeroed counts the bias, normalization and other additive entries set to zero with them.
	Zeroed int
}

// PruneChannels prunes the fraction sparsity of the coupled channels of every family of p (a
// layer's output units, or a residual stream's channels across every layer that adds to it), by
// lowest L2 norm over all their coupled slices (compact.GroupMasks, the idea of Torch-Pruning's
// DepGraph), reading the weights from ctx. It sets the weights' masks in ctx (which must have
// them: pruning.AttachMasks with [Model.Selector]) and then zeroes every other entry of each
// pruned channel that is not a layer weight: biases, normalization parameters, added constants.
// The pruned channels then output exactly zero, as if Torch-Pruning had removed them, so
// compaction removes them without adding constants and the masked and compacted models compute
// the same function. p is the program traced from this model ([Model.Trace]). With roundTo > 1,
// every family keeps a multiple of roundTo channels (compact.GroupMasksRounded): what inference
// engines compute fastest.
func (m *Model) PruneChannels(ctx *context.Context, p *program.Program, sparsity float64, roundTo int) (*ChannelPruning, error) {
	values, err := p.Values(ctx)
	if err != nil {
		return nil, fmt.Errorf("onnxmodel: %s: %w", m.displayName(), err)
	}
	masks, err := compact.GroupMasksRounded(p, values, sparsity, roundTo)
	if err != nil {
		return nil, fmt.Errorf("onnxmodel: %s: %w", m.displayName(), err)
	}
	if err := pruning.SetMasks(ctx, masks); err != nil {
		return nil, fmt.Errorf("onnxmodel: %s: %w", m.displayName(), err)
	}
	values, err = p.Values(ctx)
	if err != nil {
		return nil, err
	}
	channels, err := compact.Channels(p)
	if err != nil {
		return nil, fmt.Errorf("onnxmodel: %s: %w", m.displayName(), err)
	}
	res := &ChannelPruning{Masks: masks, Channels: len(channels)}
	isWeight := map[string]bool{}
	for _, l := range m.Layers {
		isWeight[l.Path] = true
	}
	dirty := map[string]bool{}
	for _, ch := range channels {
		if ch.Frozen != "" || len(ch.Producers) == 0 {
			continue
		}
		pruned := true
		for _, u := range ch.Producers {
			if !sliceIsZero(values[u.Var], dimsOf(p, u.Var), u.Axis, u.Index) {
				pruned = false
				break
			}
		}
		if !pruned {
			continue
		}
		res.Pruned++
		for _, u := range ch.Members {
			if isWeight[u.Var] {
				continue
			}
			res.Zeroed += zeroSlice(values[u.Var], dimsOf(p, u.Var), u.Axis, u.Index)
			dirty[u.Var] = true
		}
	}
	root := ctx.InAbsPath(context.RootScope)
	for _, path := range slices.Sorted(maps.Keys(dirty)) {
		v := root.GetVariableByScopeAndName(splitPath(path))
		if v == nil {
			return nil, fmt.Errorf("onnxmodel: %s: no variable %s", m.displayName(), path)
		}
		if err := v.SetValue(tensors.FromFlatDataAndDimensions(values[path], dimsOf(p, path)...)); err != nil {
			return nil, fmt.Errorf("onnxmodel: %s: %s: %w", m.displayName(), path, err)
		}
	}
	return res, nil
}

// dimsOf returns the dimensions of the program's variable at path.
func dimsOf(p *program.Program, path string) []int {
	if v := p.Variable(path); v != nil {
		return v.Dims
	}
	return nil
}

// sliceIsZero reports whether a variable's slice (a channel) holds only zeros.
func sliceIsZero(data []float32, dims []int, axis, index int) bool {
	zero := true
	compact.ForSlice(dims, axis, index, func(i int) { zero = zero && data[i] == 0 })
	return zero
}

// zeroSlice zeroes a slice and returns how many entries were not zero.
func zeroSlice(data []float32, dims []int, axis, index int) int {
	n := 0
	compact.ForSlice(dims, axis, index, func(i int) {
		if data[i] != 0 {
			n++
		}
		data[i] = 0
	})
	return n
}
