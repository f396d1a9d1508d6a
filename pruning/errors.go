package pruning

import "errors"

// Sentinel errors returned (wrapped with the thing at fault) by this package.
// Branch on them with [errors.Is].
var (
	// ErrNoMask: a variable or path has no mask, usually because the model graph was never built
	// with [WrapModelFn] (or [AttachMasks] was not called) for it.
	ErrNoMask = errors.New("pruning: no mask")

	// ErrInvalidMask: a mask has an entry other than exactly 0 or 1, a wrong shape, or a corrupt file.
	ErrInvalidMask = errors.New("pruning: invalid mask")

	// ErrInvalidAmount: an amount, sparsity or schedule parameter out of range.
	ErrInvalidAmount = errors.New("pruning: invalid amount")

	// ErrUnknownCriterion: [CriterionByName] was given a name that is not registered.
	ErrUnknownCriterion = errors.New("pruning: unknown criterion")

	// ErrUnknownStructure: [ParseStructure] was given a name it does not know.
	ErrUnknownStructure = errors.New("pruning: unknown structure")

	// ErrNoGradients: a gradient-based criterion was used without a [GradientSource].
	ErrNoGradients = errors.New("pruning: criterion needs gradients but no GradientSource was given")

	// ErrIncompatibleStructure: a structure does not apply to a target (e.g. N:M with an input
	// dimension that is not a multiple of M, or channels on a variable of unknown layout).
	ErrIncompatibleStructure = errors.New("pruning: structure incompatible with variable")

	// ErrUnreachable: the requested sparsity cannot be reached under the constraints
	// (minimum weights kept per layer, skipped layers, structure granularity).
	ErrUnreachable = errors.New("pruning: requested sparsity unreachable")

	// ErrUnsupportedDType: a variable's dtype is not float32 or float64.
	ErrUnsupportedDType = errors.New("pruning: unsupported dtype")

	// ErrUnknownLayer: a path or pattern (in a MaskSet, Config.Skip, a PerLayer map) names no
	// masked variable. The message lists the masked variables.
	ErrUnknownLayer = errors.New("pruning: unknown layer")

	// ErrNotFinite: a weight being pruned, or a criterion's score, is NaN or infinite. Pruning
	// by it would be meaningless (NaN has no order), so nothing is pruned.
	ErrNotFinite = errors.New("pruning: value not finite")
)
