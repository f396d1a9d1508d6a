package pruning

import (
	"encoding/csv"
	"fmt"
	"io"
	"slices"
	"strconv"

	"github.com/gomlx/gomlx/pkg/ml/context"
)

// DefaultSensitivityLadder is the ladder of sparsities [Sensitivity] uses when given none.
var DefaultSensitivityLadder = []float64{0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95}

// SensitivityRow is one layer's curve: the metric with only this layer pruned to each sparsity.
type SensitivityRow struct {
	Path    string    `json:"path"`
	Params  int       `json:"params"`
	Metrics []float64 `json:"metrics"`
}

// SensitivityTable is the result of [Sensitivity]: for each layer, the evaluation metric (higher
// is better, e.g. accuracy) with that layer alone pruned to each sparsity of the ladder.
type SensitivityTable struct {
	Baseline   float64          `json:"baseline"`
	Sparsities []float64        `json:"sparsities"`
	Layers     []SensitivityRow `json:"layers"`
}

// Sensitivity prunes each masked layer alone (those cfg.Skip does not skip) to each sparsity in
// sparsities (nil: [DefaultSensitivityLadder]) with cfg's criterion and structure, calls eval, and
// restores the layer's weights and mask before the next. eval returns a metric where higher is
// better, e.g. accuracy; it runs 1 + layers·sparsities times. Pruning from the current masks,
// ladder values below a layer's current sparsity leave it unchanged.
//
// Reference: Han et al., NeurIPS 2015 (sensitivity analysis); Li et al., ICLR 2017 (per-layer
// sensitivity of filter pruning).
func Sensitivity(ctx *context.Context, cfg Config, sparsities []float64, eval func() (float64, error)) (
	*SensitivityTable, error) {
	if sparsities == nil {
		sparsities = DefaultSensitivityLadder
	}
	for _, s := range sparsities {
		if !validFraction(s) {
			return nil, fmt.Errorf("%w: sensitivity sparsity %g is not in [0, 1)", ErrInvalidAmount, s)
		}
	}
	if !slices.IsSorted(sparsities) {
		return nil, fmt.Errorf("%w: sensitivity sparsities %v must be increasing", ErrInvalidAmount, sparsities)
	}
	base, err := eval()
	if err != nil {
		return nil, fmt.Errorf("pruning: sensitivity: baseline: %w", err)
	}
	table := &SensitivityTable{Baseline: base, Sparsities: slices.Clone(sparsities)}
	cfg.Allocation = LayerWise{}
	for _, t := range Targets(ctx) {
		skip, err := matchAny(cfg.Skip, t.Path())
		if err != nil {
			return nil, err
		}
		if skip {
			continue
		}
		row, err := layerSensitivity(ctx, cfg, t, sparsities, eval)
		if err != nil {
			return nil, err
		}
		table.Layers = append(table.Layers, row)
	}
	return table, nil
}

func layerSensitivity(ctx *context.Context, cfg Config, t Target, sparsities []float64,
	eval func() (float64, error)) (row SensitivityRow, err error) {
	w, _, err := weightAndMask(ctx, t.Path())
	if err != nil {
		return row, err
	}
	weights, err := variableFloats(w)
	if err != nil {
		return row, err
	}
	mask, err := GetMask(ctx, t.Path())
	if err != nil {
		return row, err
	}
	restore := func() error {
		if err := setVariableFloats(w, weights); err != nil {
			return err
		}
		return SetMasks(ctx, MaskSet{t.Path(): mask})
	}
	defer func() {
		if rerr := restore(); rerr != nil && err == nil {
			err = rerr
		}
	}()
	row = SensitivityRow{Path: t.Path(), Params: t.Size()}
	p := newPruner(cfg)
	p.only = t.Path()
	for _, s := range sparsities {
		if _, err := p.prune(ctx, Sparsity(s), nil); err != nil {
			return row, fmt.Errorf("pruning: sensitivity of %s at %g: %w", t.Path(), s, err)
		}
		m, err := eval()
		if err != nil {
			return row, fmt.Errorf("pruning: sensitivity of %s at %g: %w", t.Path(), s, err)
		}
		row.Metrics = append(row.Metrics, m)
		if err := restore(); err != nil {
			return row, err
		}
	}
	return row, nil
}

// sparsityForDrop returns the largest sparsity, interpolating linearly between ladder points
// (and from (0, Baseline)), before the row's metric first falls below Baseline − drop.
func (t *SensitivityTable) sparsityForDrop(row SensitivityRow, drop float64) float64 {
	th := t.Baseline - drop
	prevS, prevM := 0.0, t.Baseline
	if prevM < th {
		return 0
	}
	for i, s := range t.Sparsities {
		m := row.Metrics[i]
		if m < th {
			if prevM == m {
				return prevS
			}
			return prevS + (prevM-th)/(prevM-m)*(s-prevS)
		}
		prevS, prevM = s, m
	}
	return prevS
}

// AmountsForDrop returns, per layer, the largest sparsity whose metric stays within maxDrop of
// the baseline (interpolated linearly between ladder points), capped at the ladder's largest
// value, and the resulting overall sparsity of these layers. Use the map with [PerLayer].
func (t *SensitivityTable) AmountsForDrop(maxDrop float64) (map[string]float64, float64) {
	out := make(map[string]float64, len(t.Layers))
	zeros, size := 0.0, 0.0
	for _, row := range t.Layers {
		s := t.sparsityForDrop(row, maxDrop)
		out[row.Path] = s
		zeros += s * float64(row.Params)
		size += float64(row.Params)
	}
	if size == 0 {
		return out, 0
	}
	return out, zeros / size
}

// AmountsForSparsity returns per-layer sparsities reaching the overall target sparsity (over the
// analyzed layers, weighted by their sizes) with the smallest common accuracy drop: every layer
// is pruned as far as it can go within that drop (see [SensitivityTable.AmountsForDrop]). It also
// returns the drop. The target is met within 1e-6 when the curves are monotone; an
// [ErrUnreachable] error says the ladder does not reach the target.
func (t *SensitivityTable) AmountsForSparsity(target float64) (map[string]float64, float64, error) {
	if !validFraction(target) {
		return nil, 0, fmt.Errorf("%w: target sparsity %g is not in [0, 1)", ErrInvalidAmount, target)
	}
	hi := 0.0
	for _, row := range t.Layers {
		for _, m := range row.Metrics {
			hi = max(hi, t.Baseline-m)
		}
	}
	hi++
	if _, s := t.AmountsForDrop(hi); s < target-1e-12 {
		return nil, 0, fmt.Errorf("%w: the ladder reaches overall sparsity %.4f < %.4f", ErrUnreachable, s, target)
	}
	if amounts, s := t.AmountsForDrop(0); s >= target {
		return amounts, 0, nil
	}
	lo := 0.0
	for range 100 {
		mid := (lo + hi) / 2
		if _, s := t.AmountsForDrop(mid); s >= target {
			hi = mid
		} else {
			lo = mid
		}
	}
	amounts, _ := t.AmountsForDrop(hi)
	return amounts, hi, nil
}

// WriteCSV writes the table: a header "layer,params,0,<sparsity>..." and one row per layer with
// the metric at each sparsity (the "0" column is the baseline).
func (t *SensitivityTable) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	header := []string{"layer", "params", "0"}
	for _, s := range t.Sparsities {
		header = append(header, strconv.FormatFloat(s, 'g', -1, 64))
	}
	if err := cw.Write(header); err != nil {
		return err
	}
	for _, row := range t.Layers {
		rec := []string{row.Path, strconv.Itoa(row.Params), strconv.FormatFloat(t.Baseline, 'g', -1, 64)}
		for _, m := range row.Metrics {
			rec = append(rec, strconv.FormatFloat(m, 'g', -1, 64))
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
