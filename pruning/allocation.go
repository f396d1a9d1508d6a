package pruning

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// AmountMode says how an [Amount] is read.
type AmountMode int

const (
	// TargetSparsity: the value is the fraction of all the weights concerned that must be zero
	// after pruning (already-pruned weights count). 0.8 means "80% sparse".
	TargetSparsity AmountMode = iota
	// OfRemaining: the value is the fraction of the currently remaining (unpruned) weights to
	// prune now, as in iterative pruning (torch.nn.utils.prune's amount): sparsity s becomes
	// s + p·(1−s). 0.2 applied k times leaves (0.8)^k of the weights.
	OfRemaining
)

// String returns "sparsity" or "of_remaining".
func (m AmountMode) String() string {
	if m == OfRemaining {
		return "of_remaining"
	}
	return "sparsity"
}

// MarshalText implements encoding.TextMarshaler ("sparsity" or "of_remaining" in JSON).
func (m AmountMode) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (m *AmountMode) UnmarshalText(b []byte) error {
	switch string(b) {
	case "sparsity":
		*m = TargetSparsity
	case "of_remaining":
		*m = OfRemaining
	default:
		return fmt.Errorf("%w: amount mode %q (want sparsity or of_remaining)", ErrInvalidAmount, b)
	}
	return nil
}

// Amount is how much to prune: a value in [0, 1) and how to read it. Pruning everything (1) is
// not an amount: it would cut the network.
type Amount struct {
	Value float64    `json:"value"`
	Mode  AmountMode `json:"mode"`
}

// Sparsity returns an Amount asking for the given target sparsity (fraction of weights zero).
func Sparsity(s float64) Amount { return Amount{Value: s, Mode: TargetSparsity} }

// FractionOfRemaining returns an Amount pruning fraction p of the weights that remain.
func FractionOfRemaining(p float64) Amount { return Amount{Value: p, Mode: OfRemaining} }

// Validate checks that the value is in [0, 1) (NaN is not).
func (a Amount) Validate() error {
	if !validFraction(a.Value) {
		return fmt.Errorf("%w: amount %g (%s) is not in [0, 1)", ErrInvalidAmount, a.Value, a.Mode)
	}
	return nil
}

// validFraction reports whether x is in [0, 1): a sparsity or fraction to prune.
func validFraction(x float64) bool { return x >= 0 && x < 1 }

// TargetFrom returns the sparsity to reach from the current sparsity: Value for TargetSparsity,
// current + Value·(1−current) for OfRemaining. (A target below the current sparsity changes
// nothing unless Config.Regrow: pruned weights stay pruned.)
func (a Amount) TargetFrom(current float64) float64 {
	if a.Mode == OfRemaining {
		return current + a.Value*(1-current)
	}
	return a.Value
}

// String formats the amount, e.g. "sparsity 0.8" or "0.2 of remaining".
func (a Amount) String() string {
	if a.Mode == OfRemaining {
		return fmt.Sprintf("%g of remaining", a.Value)
	}
	return fmt.Sprintf("sparsity %g", a.Value)
}

// Layer is one variable being pruned, with how many of its weights are pruned now.
type Layer struct {
	Target
	Pruned int
}

// Sparsity returns the layer's current sparsity.
func (l Layer) Sparsity() float64 {
	if l.Size() == 0 {
		return 0
	}
	return float64(l.Pruned) / float64(l.Size())
}

// overallSparsity returns the current sparsity over all layers, weighted by size.
func overallSparsity(layers []Layer) float64 {
	pruned, size := 0, 0
	for _, l := range layers {
		pruned += l.Pruned
		size += l.Size()
	}
	if size == 0 {
		return 0
	}
	return float64(pruned) / float64(size)
}

// Allocation spreads an amount of pruning over layers.
type Allocation interface {
	// Name identifies the allocation: "layerwise", "global", "per_layer", "erk".
	Name() string
	// LayerSparsities returns the target sparsity of every layer for the amount a, keyed by
	// Target.Path(). A nil map with a nil error means "global": rank the groups of all layers
	// together against one budget, a.TargetFrom(current overall sparsity).
	LayerSparsities(layers []Layer, a Amount) (map[string]float64, error)
}

// LayerWise prunes every layer by the same amount (torch's prune.l1_unstructured per module).
type LayerWise struct{}

// Name implements Allocation.
func (LayerWise) Name() string { return "layerwise" }

// LayerSparsities implements Allocation.
func (LayerWise) LayerSparsities(layers []Layer, a Amount) (map[string]float64, error) {
	out := make(map[string]float64, len(layers))
	for _, l := range layers {
		out[l.Path()] = a.TargetFrom(l.Sparsity())
	}
	return out, nil
}

// Global ranks the weights (or groups) of all layers together against one budget
// (torch's prune.global_unstructured), so layers end up with different sparsities.
type Global struct{}

// Name implements Allocation.
func (Global) Name() string { return "global" }

// LayerSparsities implements Allocation: nil, meaning global ranking.
func (Global) LayerSparsities([]Layer, Amount) (map[string]float64, error) { return nil, nil }

// PerLayer gives each layer its own amount. Amounts maps a pattern (an exact variable path or
// any [Selector] pattern) to an amount value read in the mode of the amount passed to the
// pruner; the first matching pattern in sorted order wins. Layers matching no pattern get
// Default if HasDefault, else the amount passed to the pruner. A pattern that matches no layer
// being pruned is an error wrapping [ErrUnknownLayer] (a misspelt path would otherwise be
// ignored silently).
type PerLayer struct {
	Amounts    map[string]float64
	Default    float64
	HasDefault bool
}

// Name implements Allocation.
func (PerLayer) Name() string { return "per_layer" }

// LayerSparsities implements Allocation.
func (p PerLayer) LayerSparsities(layers []Layer, a Amount) (map[string]float64, error) {
	patterns := make([]string, 0, len(p.Amounts))
	for k := range p.Amounts {
		patterns = append(patterns, k)
	}
	slices.Sort(patterns)
	for _, pat := range patterns {
		matched := false
		for _, l := range layers {
			ok, err := MatchPattern(pat, l.Path())
			if err != nil {
				return nil, err
			}
			matched = matched || ok
		}
		if !matched {
			paths := make([]string, len(layers))
			for i, l := range layers {
				paths[i] = l.Path()
			}
			return nil, fmt.Errorf("%w: per-layer amount for %q matches no layer being pruned; layers: %s",
				ErrUnknownLayer, pat, strings.Join(paths, ", "))
		}
	}
	out := make(map[string]float64, len(layers))
	for _, l := range layers {
		v := a.Value
		if p.HasDefault {
			v = p.Default
		}
		if exact, ok := p.Amounts[l.Path()]; ok {
			v = exact
		} else {
			for _, pat := range patterns {
				ok, err := MatchPattern(pat, l.Path())
				if err != nil {
					return nil, err
				}
				if ok {
					v = p.Amounts[pat]
					break
				}
			}
		}
		la := Amount{Value: v, Mode: a.Mode}
		if err := la.Validate(); err != nil {
			return nil, fmt.Errorf("%s: %w", l.Path(), err)
		}
		out[l.Path()] = la.TargetFrom(l.Sparsity())
	}
	return out, nil
}

// ERK is the Erdős–Rényi-Kernel distribution: a layer's density is proportional to
// (sum of its kernel dimensions)/(product of its kernel dimensions) — (n_in+n_out)/(n_in·n_out)
// for dense layers, (n_in+n_out+k_h+k_w)/(n_in·n_out·k_h·k_w) for convolutions — raised to Power
// (1 if zero), scaled so the overall sparsity is the amount's target. Layers whose density would
// exceed 1 are kept dense and the rest rescaled. Small layers end up denser than large ones.
//
// Reference: Evci, Gale, Menick, Castro, Elsen, "Rigging the Lottery: Making All Tickets
// Winners", ICML 2020 (Mocanu et al. 2018 for the dense-layer ER variant).
type ERK struct{ Power float64 }

// Name implements Allocation.
func (ERK) Name() string { return "erk" }

// LayerSparsities implements Allocation. (Layers already sparser than their ERK share stay so
// unless Config.Regrow.)
func (e ERK) LayerSparsities(layers []Layer, a Amount) (map[string]float64, error) {
	s := a.TargetFrom(overallSparsity(layers))
	dens, err := erkDensities(layers, 1-s, e.Power)
	if err != nil {
		return nil, err
	}
	out := make(map[string]float64, len(layers))
	for _, l := range layers {
		out[l.Path()] = 1 - dens[l.Path()]
	}
	return out, nil
}

// erkDensities solves for per-layer densities with the given overall density (RigL's
// get_sparsities with erk_power_scale).
func erkDensities(layers []Layer, density, power float64) (map[string]float64, error) {
	if power == 0 {
		power = 1
	}
	if !(density > 0 && density <= 1) {
		return nil, fmt.Errorf("%w: density %g", ErrInvalidAmount, density)
	}
	dense := make(map[string]bool)
	raw := make(map[string]float64)
	for _, l := range layers {
		sum, prod := 0.0, 1.0
		for _, d := range l.Shape {
			sum += float64(d)
			prod *= float64(d)
		}
		if prod > 0 {
			raw[l.Path()] = math.Pow(sum/prod, power)
		}
	}
	var eps float64
	for {
		var rhs, divisor float64
		for _, l := range layers {
			n := float64(l.Size())
			if dense[l.Path()] || n == 0 {
				rhs -= n * (1 - density) // dense layers take their zeros' share from the others
				continue
			}
			rhs += n * density
			divisor += raw[l.Path()] * n
		}
		if divisor == 0 {
			break
		}
		eps = rhs / divisor
		maxRaw, changed := 0.0, false
		for _, l := range layers {
			if !dense[l.Path()] && l.Size() > 0 {
				maxRaw = max(maxRaw, raw[l.Path()])
			}
		}
		if maxRaw*eps > 1 {
			for _, l := range layers {
				if !dense[l.Path()] && raw[l.Path()] == maxRaw {
					dense[l.Path()] = true
					changed = true
				}
			}
		}
		if !changed {
			break
		}
	}
	out := make(map[string]float64, len(layers))
	for _, l := range layers {
		if dense[l.Path()] || l.Size() == 0 {
			out[l.Path()] = 1
		} else {
			out[l.Path()] = min(1, max(0, eps*raw[l.Path()]))
		}
	}
	return out, nil
}

// ParseAllocation reads an allocation name: "layerwise", "global", "erk".
func ParseAllocation(name string) (Allocation, error) {
	switch name {
	case "", "layerwise", "layer":
		return LayerWise{}, nil
	case "global":
		return Global{}, nil
	case "erk":
		return ERK{}, nil
	}
	return nil, fmt.Errorf("pruning: unknown allocation %q; known: layerwise, global, erk (per_layer is built in Go)",
		name)
}
