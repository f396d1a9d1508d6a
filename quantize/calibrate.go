package quantize

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/prunelab/prunelab/program"
)

// DefaultClips are the clipping ratios Calibrate tries for each channel.
var DefaultClips = []float64{1, 0.98, 0.95, 0.9, 0.85, 0.8, 0.75, 0.7}

// Config configures [Calibrate]. The zero value uses the defaults listed in the package
// documentation.
type Config struct {
	// Clips are the candidate clipping ratios, each in (0, 1] (default DefaultClips).
	Clips []float64
	// MaxRows is the number of calibration rows (layer inputs) per layer (default 2048).
	MaxRows int
	// ChunkSize is the number of calibration images per GoMLX run (default 32).
	ChunkSize int
	// Seed drives the sampling of calibration rows.
	Seed uint64
	// Select picks the variables to quantize (default: rank >= 2, i.e. weights and kernels).
	Select func(v program.Variable) bool
}

func (c Config) withDefaults() Config {
	if len(c.Clips) == 0 {
		c.Clips = DefaultClips
	}
	if c.MaxRows <= 0 {
		c.MaxRows = 2048
	}
	if c.ChunkSize <= 0 {
		c.ChunkSize = 32
	}
	if c.Select == nil {
		c.Select = func(v program.Variable) bool { return len(v.Dims) >= 2 }
	}
	return c
}

// LayerReport describes the quantization of one variable.
type LayerReport struct {
	Path     string `json:"path"`
	Dims     []int  `json:"dims"`
	Channels int    `json:"channels"`
	NonZero  int    `json:"nonzero"`
	// Calibrated is true when the clipping ratios were chosen on calibration rows (Rows of them).
	Calibrated bool `json:"calibrated"`
	Rows       int  `json:"rows"`
	// MeanClip is the mean clipping ratio over channels.
	MeanClip float64 `json:"mean_clip"`
	// MaxAbsMSE and CalibratedMSE are the mean squared output errors per row and channel on the
	// calibration rows, with max-abs scales and with the chosen ones (equal when not calibrated).
	MaxAbsMSE     float64 `json:"max_abs_mse"`
	CalibratedMSE float64 `json:"calibrated_mse"`
	// MaxWeightError is the largest |w − q·s|.
	MaxWeightError float64 `json:"max_weight_error"`
}

// Result holds the quantized variables and a report per variable.
type Result struct {
	Tensors map[string]*Tensor `json:"-"`
	Layers  []LayerReport      `json:"layers"`
}

// Dequantized returns a copy of values in which every quantized variable is replaced by its
// dequantized values: the weights a model runs with after quantization.
func (r *Result) Dequantized(values map[string][]float32) map[string][]float32 {
	out := make(map[string][]float32, len(values))
	for k, v := range values {
		if t, ok := r.Tensors[k]; ok {
			out[k] = t.Dequantize()
		} else {
			out[k] = slices.Clone(v)
		}
	}
	return out
}

// Calibrate quantizes the variables of p that cfg selects, per output channel (the last axis), with
// values the float32 variable values (keyed by path). With calibration images calib (a batch
// [n, ...] of model inputs, e.g. training images) the clipping ratio of each channel of a weight used
// by a matrix multiplication (program.MatMuls) minimizes the output error on that layer's inputs;
// other weights, or all when calib is nil, use max-abs scales.
func Calibrate(backend backends.Backend, p *program.Program, values map[string][]float32, calib *tensors.Tensor,
	cfg Config) (*Result, error) {
	cfg = cfg.withDefaults()
	for _, c := range cfg.Clips {
		if !(c > 0 && c <= 1) {
			return nil, fmt.Errorf("quantize: clipping ratio %g, want (0, 1]", c)
		}
	}
	var rows map[int][]float32 // by MatMul index: sampled rows, K values each
	mms := p.MatMuls()
	if calib != nil {
		var err error
		if rows, err = sampleRows(backend, p, values, calib, mms, cfg); err != nil {
			return nil, err
		}
	}
	res := &Result{Tensors: map[string]*Tensor{}}
	for _, v := range p.Variables {
		if !cfg.Select(v) {
			continue
		}
		w, ok := values[v.Path]
		if !ok {
			return nil, fmt.Errorf("quantize: no values for %s", v.Path)
		}
		rep := LayerReport{Path: v.Path, Dims: slices.Clone(v.Dims), Channels: v.Dims[len(v.Dims)-1]}
		for _, x := range w {
			if x != 0 {
				rep.NonZero++
			}
		}
		var clips []float64
		for mi, mm := range mms {
			if mm.Var != v.Path || rows[mi] == nil {
				continue
			}
			x := rows[mi]
			rep.Calibrated, rep.Rows = true, len(x)/mm.K
			var before, after float64
			clips, before, after = chooseClips(w, x, mm.K, mm.N, cfg.Clips)
			rep.MaxAbsMSE = before / float64(rep.Rows*mm.N)
			rep.CalibratedMSE = after / float64(rep.Rows*mm.N)
			break
		}
		t, err := NewTensor(w, v.Dims, len(v.Dims)-1, clips)
		if err != nil {
			return nil, fmt.Errorf("quantize: %s: %w", v.Path, err)
		}
		rep.MeanClip = 1
		if clips != nil {
			rep.MeanClip = 0
			for _, c := range clips {
				rep.MeanClip += c / float64(len(clips))
			}
		}
		for i, q := range t.Dequantize() {
			rep.MaxWeightError = math.Max(rep.MaxWeightError, math.Abs(float64(q-w[i])))
		}
		res.Tensors[v.Path] = t
		res.Layers = append(res.Layers, rep)
	}
	return res, nil
}

// chooseClips picks, for each of the n columns of the [k, n] matrix w, the clip minimizing
// Σ_rows (x·(w − q(w)))²; it returns the clips and the total error with clip 1 and with the choice.
func chooseClips(w, x []float32, k, n int, candidates []float64) (clips []float64, before, after float64) {
	numRows := len(x) / k
	clips = make([]float64, n)
	var nz []int
	col := make([]float32, 0, k)
	dw := make([]float64, 0, k)
	for j := range n {
		nz, col = nz[:0], col[:0]
		maxAbs := 0.0
		for r := range k {
			if v := w[r*n+j]; v != 0 {
				nz = append(nz, r)
				col = append(col, v)
				maxAbs = math.Max(maxAbs, math.Abs(float64(v)))
			}
		}
		clips[j] = 1
		if len(nz) == 0 {
			continue
		}
		best := math.Inf(1)
		for ci, c := range candidates {
			s := float32(c * maxAbs / 127)
			dw = dw[:0]
			for _, v := range col {
				dw = append(dw, float64(v-float32(quantizeValue(v, s))*s))
			}
			e := 0.0
			for row := range numRows {
				xr := x[row*k : (row+1)*k]
				d := 0.0
				for t, r := range nz {
					d += float64(xr[r]) * dw[t]
				}
				e += d * d
			}
			if c == 1 {
				before += e
			}
			if e < best || (e == best && ci == 0) {
				best, clips[j] = e, c
			}
		}
		after += best
	}
	return clips, before, after
}

// sampleRows runs the model on calib in chunks and samples up to cfg.MaxRows rows of the left
// operand of every MatMul.
func sampleRows(backend backends.Backend, p *program.Program, values map[string][]float32, calib *tensors.Tensor,
	mms []program.MatMul, cfg Config) (map[int][]float32, error) {
	if len(mms) == 0 {
		return nil, nil
	}
	ctx, err := p.NewContext(values)
	if err != nil {
		return nil, err
	}
	which := make([]int, len(mms))
	for i, mm := range mms {
		which[i] = mm.Rows
	}
	exec, err := context.NewExec(backend, ctx.Reuse(), func(ctx *context.Context, x *graph.Node) []*graph.Node {
		return p.BuildNodes(ctx, x, which)
	})
	if err != nil {
		return nil, err
	}
	defer exec.Finalize()
	dims := calib.Shape().Dimensions
	if len(dims) == 0 || dims[0] == 0 {
		return nil, fmt.Errorf("quantize: empty calibration batch %s", calib.Shape())
	}
	all, err := tensors.CopyFlatData[float32](calib)
	if err != nil {
		return nil, fmt.Errorf("quantize: calibration data: %w", err)
	}
	n, per := dims[0], len(all)/dims[0]
	numChunks := (n + cfg.ChunkSize - 1) / cfg.ChunkSize
	quota := (cfg.MaxRows + numChunks - 1) / numChunks
	rng := rand.New(rand.NewPCG(cfg.Seed, 0xca1))
	rows := make(map[int][]float32, len(mms))
	for start := 0; start < n; start += cfg.ChunkSize {
		end := min(n, start+cfg.ChunkSize)
		chunkDims := append([]int{end - start}, dims[1:]...)
		chunk := tensors.FromFlatDataAndDimensions(slices.Clone(all[start*per:end*per]), chunkDims...)
		outs, err := exec.Exec(chunk)
		if err != nil {
			return nil, fmt.Errorf("quantize: running the model on calibration data: %w", err)
		}
		for i, mm := range mms {
			data, err := tensors.CopyFlatData[float32](outs[i])
			outs[i].FinalizeAll()
			if err != nil {
				return nil, err
			}
			numRows := len(data) / mm.K
			var candidates []int
			for r := range numRows {
				for _, v := range data[r*mm.K : (r+1)*mm.K] {
					if v != 0 {
						candidates = append(candidates, r)
						break
					}
				}
			}
			rng.Shuffle(len(candidates), func(a, b int) { candidates[a], candidates[b] = candidates[b], candidates[a] })
			for _, r := range candidates[:min(quota, len(candidates))] {
				rows[i] = append(rows[i], data[r*mm.K:(r+1)*mm.K]...)
			}
		}
	}
	return rows, nil
}
