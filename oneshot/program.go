package oneshot

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/prunelab/prunelab/program"
)

// Methods are the names [PruneProgram] accepts.
var Methods = []string{"magnitude", "magnitude-layer", "wanda", "sparsegpt"}

// ReadsCalibration reports whether method chooses its weights from calibration statistics: false
// for the magnitude methods, whose result is the same for every calibration set.
func ReadsCalibration(method string) bool {
	return method != "magnitude" && method != "magnitude-layer"
}

// ProgramOptions say how [PruneProgram] prunes a model's linear layers.
type ProgramOptions struct {
	// Method is "magnitude" (per output, as Wanda compares), "magnitude-layer" (the whole layer
	// ranked together, the papers' magnitude baseline), "wanda" or "sparsegpt".
	Method string
	// Pattern is the sparsity pattern of every pruned layer.
	Pattern Pattern
	// Skip reports the variables (by path) left dense, e.g. the classifier head; nil prunes all.
	Skip func(path string) bool
	// ChunkSize is the number of calibration examples run at once (default 256).
	ChunkSize int
	// SparseGPT tunes the "sparsegpt" method.
	SparseGPT SparseGPTOptions
}

// LayerReport is what [PruneProgram] did to one layer.
type LayerReport struct {
	Path string `json:"path"`
	// In and Out are the layer's matrix dimensions; Rows the calibration rows its statistics
	// hold (examples times positions, e.g. tokens).
	In   int `json:"in"`
	Out  int `json:"out"`
	Rows int `json:"rows"`
	// Sparsity is the fraction of its weights that are zero afterwards.
	Sparsity float64 `json:"sparsity"`
	// RelativeError is ‖XW − XŴ‖² / ‖XW‖² on its calibration inputs (those reaching it through the
	// already pruned layers before it).
	RelativeError float64 `json:"relative_error"`
	// OutlierRatio is its largest calibration input norm over the median one
	// ([Stats.OutlierRatio]): where it is near 1, Wanda chooses about as magnitude does.
	OutlierRatio float64 `json:"outlier_ratio"`
	Seconds      float64 `json:"seconds"`
}

// PruneProgram prunes every linear layer of a traced model (each multiplication of rows by a
// variable's matrix, [program.Program.MatMuls]) in program order, layer by layer as Wanda and
// SparseGPT do: each layer's calibration statistics come from running the model, with the layers
// before it already pruned, on the calibration examples calib ([n, ...input]); layers that read
// the same rows (attention's q, k and v) share them. It returns new values (the input map is not
// changed), the masks of the pruned variables (true: kept) and a report per layer. Errors name the
// layer at fault (an empty calibration set, a Hessian not positive definite after dampening, an
// N:M pattern that does not fit).
func PruneProgram(b backends.Backend, p *program.Program, values map[string][]float32, calib *tensors.Tensor,
	o ProgramOptions) (map[string][]float32, map[string][]bool, []LayerReport, error) {
	if !slices.Contains(Methods, o.Method) {
		return nil, nil, nil, fmt.Errorf("oneshot: unknown method %q (known: %s)", o.Method, strings.Join(Methods, ", "))
	}
	if err := o.Pattern.Validate(); err != nil {
		return nil, nil, nil, err
	}
	if o.ChunkSize <= 0 {
		o.ChunkSize = 256
	}
	dims := calib.Shape().Dimensions
	if len(dims) == 0 || dims[0] == 0 {
		return nil, nil, nil, fmt.Errorf("%w: no calibration examples (shape %s)", ErrNoCalibration, calib.Shape())
	}
	all, err := tensors.CopyFlatData[float32](calib)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("oneshot: calibration data: %w", err)
	}
	out := make(map[string][]float32, len(values))
	for k, v := range values {
		out[k] = v
	}
	masks := map[string][]bool{}
	var reports []LayerReport
	mms := p.MatMuls()
	for i := 0; i < len(mms); {
		// The layers reading the same rows, in order.
		j := i
		for j < len(mms) && mms[j].Rows == mms[i].Rows {
			j++
		}
		group := mms[i:j]
		i = j
		var todo []program.MatMul
		for _, mm := range group {
			if (o.Skip == nil || !o.Skip(mm.Var)) && masks[mm.Var] == nil {
				todo = append(todo, mm)
			}
		}
		if len(todo) == 0 {
			continue
		}
		stats, err := rowStats(b, p, out, all, dims, todo[0], o.ChunkSize)
		if err != nil {
			return nil, nil, nil, err
		}
		for _, mm := range todo {
			start := time.Now()
			w := out[mm.Var]
			if mm.Transposed { // [N, K] → the [K, N] the methods take
				w = transpose(w, mm.N, mm.K)
			}
			l := Layer{Name: mm.Var, In: mm.K, Out: mm.N, W: w}
			var nw []float32
			var mask []bool
			switch o.Method {
			case "magnitude":
				mask, err = Magnitude(l, o.Pattern)
			case "magnitude-layer":
				mask, err = MagnitudeLayer(l, o.Pattern)
			case "wanda":
				mask, err = Wanda(l, stats, o.Pattern)
			case "sparsegpt":
				nw, mask, err = SparseGPT(l, stats, o.Pattern, o.SparseGPT)
			}
			if err != nil {
				return nil, nil, nil, err
			}
			if nw == nil {
				nw = slices.Clone(w)
				for k, keep := range mask {
					if !keep {
						nw[k] = 0
					}
				}
			}
			zeros := 0
			for _, v := range nw {
				if v == 0 {
					zeros++
				}
			}
			relErr, err := RelativeReconstructionError(l, nw, stats)
			if err != nil {
				return nil, nil, nil, err
			}
			rep := LayerReport{Path: mm.Var, In: mm.K, Out: mm.N, Rows: stats.Rows(),
				Sparsity: float64(zeros) / float64(len(nw)), RelativeError: relErr, OutlierRatio: stats.OutlierRatio(),
				Seconds: time.Since(start).Seconds()}
			if mm.Transposed {
				nw, mask = transpose(nw, mm.K, mm.N), transpose(mask, mm.K, mm.N)
			}
			out[mm.Var], masks[mm.Var] = nw, mask
			reports = append(reports, rep)
		}
	}
	return out, masks, reports, nil
}

// rowStats runs the program with values on the calibration examples and accumulates the
// statistics of the rows mm multiplies.
func rowStats(b backends.Backend, p *program.Program, values map[string][]float32, all []float32, dims []int,
	mm program.MatMul, chunk int) (*Stats, error) {
	ctx, err := p.NewContext(values)
	if err != nil {
		return nil, err
	}
	exec, err := context.NewExec(b, ctx.Reuse(), func(ctx *context.Context, x *graph.Node) []*graph.Node {
		return p.BuildNodes(ctx, x, []int{mm.Rows})
	})
	if err != nil {
		return nil, err
	}
	defer exec.Finalize()
	stats := NewStats(mm.K)
	n, per := dims[0], len(all)/dims[0]
	for start := 0; start < n; start += chunk {
		end := min(n, start+chunk)
		x := tensors.FromFlatDataAndDimensions(slices.Clone(all[start*per:end*per]), append([]int{end - start}, dims[1:]...)...)
		res, err := exec.Exec(x)
		if err != nil {
			return nil, fmt.Errorf("oneshot: %s: running the model on calibration data: %w", mm.Var, err)
		}
		rows, err := tensors.CopyFlatData[float32](res[0])
		res[0].FinalizeAll()
		if err != nil {
			return nil, err
		}
		if err := stats.Add(rows, len(rows)/mm.K); err != nil {
			return nil, err
		}
	}
	return stats, nil
}

// transpose returns the row-major [cols, rows] transpose of the row-major [rows, cols] matrix a.
func transpose[T any](a []T, rows, cols int) []T {
	t := make([]T, len(a))
	for r := range rows {
		for c := range cols {
			t[c*rows+r] = a[r*cols+c]
		}
	}
	return t
}
