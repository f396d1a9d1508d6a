package experiment

import (
	"fmt"
	"io"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/prunelab/prunelab/compact"
	"github.com/prunelab/prunelab/models"
	"github.com/prunelab/prunelab/program"
	"github.com/prunelab/prunelab/training"
)

// TransformerPruning is what pruning heads or blocks ([PruneSettings] structures "heads" and
// "blocks") did to a transformer, and what removing them physically gains: [RemoveHeads] with the
// configuration's BlockHeads, or the models' WithoutBlocks.
type TransformerPruning struct {
	// HeadsKept is the number of heads each block keeps ("heads"); BlocksRemoved the blocks whose
	// gate is 0 ("blocks").
	HeadsKept     []int `json:"heads_kept,omitempty"`
	BlocksRemoved []int `json:"blocks_removed,omitempty"`
	// DenseMACs and CompactMACs are the multiply-accumulates per example of the model and of the
	// model without the pruned heads or blocks (compact.MACs of the traced programs); Speedup is
	// their ratio, the theoretical speedup of removing them. Zero when the flow does not know the
	// model's configuration (vit-tiny is known).
	DenseMACs   int64   `json:"dense_macs,omitempty"`
	CompactMACs int64   `json:"compact_macs,omitempty"`
	Speedup     float64 `json:"speedup,omitempty"`
}

// writeSummary writes the summary line of a prune run's transformer pruning (nothing for nil).
func (tp *TransformerPruning) writeSummary(w io.Writer) {
	if tp == nil {
		return
	}
	what := fmt.Sprintf("blocks removed %v", tp.BlocksRemoved)
	if tp.HeadsKept != nil {
		what = fmt.Sprintf("heads kept per block %v", tp.HeadsKept)
	}
	if tp.Speedup > 0 {
		what += fmt.Sprintf("; once removed physically %.2fx fewer MACs (%d -> %d per example)", tp.Speedup,
			tp.DenseMACs, tp.CompactMACs)
	}
	fmt.Fprintf(w, "  transformer    %s\n", what)
}

// vitConfigs are the registry's Vision Transformers by name, for [TransformerPruning]'s MACs.
var vitConfigs = map[string]models.ViTConfig{"vit-tiny": models.ViTTiny}

// transformerPruning reads which heads or blocks the gates of s's model m hold at 0 (structure
// "heads" or "blocks"; nil for other structures) and, for a known configuration, counts the MACs of
// the model without them.
func transformerPruning(s *training.Session, m models.Model, structure string) (*TransformerPruning, error) {
	if structure != StructureHeads && structure != StructureBlocks {
		return nil, nil
	}
	tp := &TransformerPruning{}
	if structure == StructureHeads {
		for v := range s.Context().IterVariables() {
			if b := blockOf(v.ScopeAndName()); isGate(v, models.HeadGates) && b >= 0 {
				gates, err := gateValues(v)
				if err != nil {
					return nil, err
				}
				for len(tp.HeadsKept) <= b {
					tp.HeadsKept = append(tp.HeadsKept, 0)
				}
				for _, g := range gates {
					if g != 0 {
						tp.HeadsKept[b]++
					}
				}
			}
		}
	} else {
		var err error
		if tp.BlocksRemoved, err = MaskedBlocks(s.Context()); err != nil {
			return nil, err
		}
	}
	cfg, known := vitConfigs[m.Name]
	if !known || tp.HeadsKept != nil && len(tp.HeadsKept) != cfg.Blocks {
		return tp, nil
	}
	build := cfg.WithoutBlocks(tp.BlocksRemoved...)
	if tp.HeadsKept != nil {
		small := cfg
		small.BlockHeads = tp.HeadsKept
		build = small.Build
	}
	input := shapes.Make(dtypes.Float32, m.InputShape...)
	for _, c := range []struct {
		build models.BuildFn
		macs  *int64
	}{{cfg.Build, &tp.DenseMACs}, {build, &tp.CompactMACs}} {
		p, err := program.Trace(s.Backend(), context.New(), program.ModelFn(c.build), input)
		if err != nil {
			return nil, fmt.Errorf("experiment: %s: %w", m.Name, err)
		}
		*c.macs = compact.MACs(p)
	}
	if tp.CompactMACs > 0 {
		tp.Speedup = float64(tp.DenseMACs) / float64(tp.CompactMACs)
	}
	return tp, nil
}
