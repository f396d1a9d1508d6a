package experiment

import (
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/prunelab/prunelab/backend"
	"github.com/prunelab/prunelab/compact"
	"github.com/prunelab/prunelab/models"
	"github.com/prunelab/prunelab/onnxmodel"
	"github.com/prunelab/prunelab/pruning"
	"github.com/prunelab/prunelab/training"
)

// imageShapes are the example shapes (H, W, C) and class counts of package datasets' data sets.
var imageShapes = map[string]struct {
	example []int
	classes int
}{
	"mnist":         {[]int{28, 28, 1}, 10},
	"fashion-mnist": {[]int{28, 28, 1}, 10},
	"cifar10":       {[]int{32, 32, 3}, 10},
}

// resolveONNX opens o.ONNX and adapts it to o.Dataset's images (default "mnist"): the training
// configuration that names its runs (the file's SHA-256 in it), the model, and the opened file.
func resolveONNX(o DenseOptions) (TrainConfig, models.Model, *onnxmodel.Model, error) {
	dataset := o.Dataset
	if dataset == "" {
		dataset = "mnist"
	}
	shape, ok := imageShapes[dataset]
	if !ok {
		return TrainConfig{}, models.Model{}, nil, badOptionsf("-dataset %q: an ONNX model is fed one of %s", dataset,
			strings.Join(slices.Sorted(maps.Keys(imageShapes)), ", "))
	}
	om, err := onnxmodel.Open(o.ONNX)
	if err != nil {
		return TrainConfig{}, models.Model{}, nil, badOptions(err)
	}
	m, err := om.ForImages(shape.example, shape.classes)
	if err != nil {
		return TrainConfig{}, models.Model{}, nil, badOptions(err)
	}
	lr := o.LR
	if lr == 0 {
		lr = defaultLR(o.Optimizer)
	}
	rc := TrainConfig{Model: m.Name, Dataset: dataset, Steps: "0it", Optimizer: o.Optimizer, LRSchedule: "constant",
		LR: lr, Momentum: 0.9, Batch: o.Batch, Validation: o.Validation, TrainLimit: o.TrainLimit, Seed: o.Seed,
		ONNX: om.SHA256}
	return rc, m, om, nil
}

// CompactONNXOptions are the settings of [CompactONNX].
type CompactONNXOptions struct {
	// File is the ONNX model; Out the compacted ONNX file to write (default: File with
	// "-compact<percent>" before its extension).
	File, Out string
	// Sparsity is the fraction of each family's coupled channels to prune (0.3: 30%); RoundTo > 1
	// keeps a multiple of that many channels in every larger family (8 suits ONNX Runtime's
	// blocked convolution layouts; default 1: exactly Sparsity).
	Sparsity float64
	RoundTo  int
	// InputShape is the example shape the graph is traced at, without the batch (e.g. 3,64,64);
	// required when the model's input has dynamic dimensions other than the batch. The compacted
	// weights do not depend on it: a file traced at 64×64 runs at any size the original does.
	InputShape []int
	// MaskedOut, when set, also writes the masked model (same graph, pruned channels zero) there.
	MaskedOut string
	Log       io.Writer
}

// CompactONNXResult is what CompactONNX did and measured.
type CompactONNXResult struct {
	File, Out, MaskedOut string
	Sparsity             float64
	RoundTo              int
	// Channels counts the coupled channels, Pruned those removed; Zeroed the bias entries zeroed with them.
	Channels, Pruned, Zeroed int
	Report                   *compact.Report
	// FileBytes and OutBytes are the sizes of the original and compacted files.
	FileBytes, OutBytes int64
	Seconds             float64
}

// CompactONNX prunes the fraction o.Sparsity of the coupled channels of an ONNX model (residual
// streams together, onnxmodel.Model.PruneChannels), removes them physically (package compact,
// verified against the masked model) and writes the smaller model as an ONNX file, which is
// imported again and checked against the compacted model before it is written.
func CompactONNX(o CompactONNXOptions) (*CompactONNXResult, error) {
	start := time.Now()
	if o.File == "" {
		return nil, badOptionsf("compact: no ONNX file given")
	}
	if !(o.Sparsity > 0 && o.Sparsity < 1) {
		return nil, badOptionsf("compact: channel sparsity %g is not in (0, 1)", o.Sparsity)
	}
	if o.Out == "" {
		ext := filepath.Ext(o.File)
		o.Out = fmt.Sprintf("%s-compact%02.0f%s", strings.TrimSuffix(o.File, ext), 100*o.Sparsity, ext)
	}
	log := logger(o.Log)
	if err := os.MkdirAll(filepath.Dir(o.Out), 0o755); err != nil {
		return nil, err
	}
	om, err := onnxmodel.Open(o.File)
	if err != nil {
		return nil, badOptions(err)
	}
	example := o.InputShape
	if example == nil {
		example = om.Input.Dims[1:]
		if slices.Contains(example, -1) {
			return nil, badOptionsf("compact: %s: input %s has dynamic dimensions: give the example shape (-input-shape 3,64,64)",
				o.File, om.Input)
		}
	}
	b, err := backend.Default()
	if err != nil {
		return nil, err
	}
	ctx := context.New()
	p, err := om.Trace(b, ctx, example)
	if err != nil {
		return nil, badOptions(err)
	}
	if _, err := pruning.AttachMasks(ctx, om.Selector()); err != nil {
		return nil, err
	}
	fmt.Fprintf(log, "%s: %d ops, %d prunable layers, %d parameters; pruning %.0f%% of each family's channels\n",
		o.File, len(p.Ops), len(om.Layers), om.Params, 100*o.Sparsity)
	cp, err := om.PruneChannels(ctx, p, o.Sparsity, max(o.RoundTo, 1))
	if err != nil {
		return nil, err
	}
	values, err := p.Values(ctx)
	if err != nil {
		return nil, err
	}
	res, err := compact.Compact(b, p, values, compact.Options{})
	if err != nil {
		return nil, err
	}
	if err := om.WriteCompacted(b, o.Out, res); err != nil {
		return nil, err
	}
	r := &CompactONNXResult{File: o.File, Out: o.Out, MaskedOut: o.MaskedOut, Sparsity: o.Sparsity, RoundTo: o.RoundTo,
		Channels: cp.Channels, Pruned: cp.Pruned, Zeroed: cp.Zeroed, Report: res.Report}
	if o.MaskedOut != "" {
		if err := om.Write(o.MaskedOut, ctx); err != nil {
			return nil, err
		}
	}
	for _, f := range []struct {
		path string
		size *int64
	}{{o.File, &r.FileBytes}, {o.Out, &r.OutBytes}} {
		st, err := os.Stat(f.path)
		if err != nil {
			return nil, err
		}
		*f.size = st.Size()
	}
	r.Seconds = time.Since(start).Seconds()
	return r, nil
}

// WriteSummary prints what was removed, the sizes and the theoretical speedup.
func (r *CompactONNXResult) WriteSummary(w io.Writer) {
	rep := r.Report
	rounded := ""
	if r.RoundTo > 1 {
		rounded = fmt.Sprintf(", kept counts multiples of %d", r.RoundTo)
	}
	fmt.Fprintf(w, "%s → %s: %d of %d coupled channels removed (%.0f%% of each family%s; %d frozen), %d bias entries zeroed with them\n",
		r.File, r.Out, r.Pruned, r.Channels, 100*r.Sparsity, rounded, rep.FrozenChannels, r.Zeroed)
	fmt.Fprintf(w, "  parameters %d → %d (%.1f%%), file %d → %d bytes (%.1f%%)\n", rep.ParamsBefore, rep.ParamsAfter,
		100*float64(rep.ParamsAfter)/float64(rep.ParamsBefore), r.FileBytes, r.OutBytes,
		100*float64(r.OutBytes)/float64(r.FileBytes))
	fmt.Fprintf(w, "  MACs per example %d → %d: theoretical speedup %.2f×; compacted = masked within %.2g (checked before and after writing)\n",
		rep.MACsBefore, rep.MACsAfter, rep.Speedup, rep.MaxDiff)
	if r.MaskedOut != "" {
		fmt.Fprintf(w, "  masked model (same graph, pruned channels zero): %s\n", r.MaskedOut)
	}
	fmt.Fprintf(w, "  %.1f s\n", r.Seconds)
}

// writeONNX writes the session's model as ONNX into dir when the flow started from an ONNX file
// (and, with int8, also with INT8 weights): the paths written.
func writeONNX(d *Dense, sess *training.Session, dir string, int8 bool) (string, string, error) {
	if d == nil || d.ONNX == nil {
		return "", "", nil
	}
	path := filepath.Join(dir, ONNXFile)
	if err := d.ONNX.Write(path, sess.Context()); err != nil || !int8 {
		return path, "", err
	}
	example, err := d.ONNX.InputExample(d.Model.InputShape)
	if err != nil {
		return path, "", err
	}
	qpath := filepath.Join(dir, ONNXInt8File)
	_, err = d.ONNX.WriteQuantized(sess.Backend(), qpath, sess.Context(), example)
	return path, qpath, err
}
