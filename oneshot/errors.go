package oneshot

import "errors"

// Sentinel errors returned, wrapped with the layer and the reason, by this package.
// Branch on them with [errors.Is].
var (
	// ErrShape: weights, statistics or calibration inputs whose sizes do not agree.
	ErrShape = errors.New("oneshot: shape mismatch")

	// ErrInvalidPattern: an unstructured sparsity outside [0, 1), an N:M pattern with N outside
	// [1, M], or a layer whose In is not a multiple of M.
	ErrInvalidPattern = errors.New("oneshot: invalid pattern")

	// ErrInvalidOptions: a [SparseGPTOptions] field out of range.
	ErrInvalidOptions = errors.New("oneshot: invalid options")

	// ErrNoCalibration: a method that needs calibration statistics got none (nil [Stats], or
	// no rows added).
	ErrNoCalibration = errors.New("oneshot: no calibration data")

	// ErrNotFinite: a weight or a calibration input is NaN or infinite.
	ErrNotFinite = errors.New("oneshot: value not finite")

	// ErrNotPositiveDefinite: the dampened Hessian (or its inverse) is not numerically positive
	// definite, so its Cholesky factorization fails. More dampening usually helps.
	ErrNotPositiveDefinite = errors.New("oneshot: Hessian not positive definite")
)
