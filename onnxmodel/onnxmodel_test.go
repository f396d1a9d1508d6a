package onnxmodel_test

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/prunelab/prunelab/backend"
	"github.com/prunelab/prunelab/compact"
	"github.com/prunelab/prunelab/internal/peers"
	"github.com/prunelab/prunelab/onnxmodel"
	"github.com/prunelab/prunelab/program"
	"github.com/prunelab/prunelab/pruning"
	"github.com/prunelab/prunelab/quantize"
)

func testBackend(t testing.TB) backends.Backend {
	t.Helper()
	b, err := backend.Default()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// traced opens a test model, loads it into a new context and traces it on its fixed input's shape.
func traced(t *testing.T, dir, name string) (*onnxmodel.Model, *context.Context, *program.Program, peers.Meta) {
	t.Helper()
	m, err := onnxmodel.Open(filepath.Join(dir, name+".onnx"))
	if err != nil {
		t.Fatal(err)
	}
	meta := peers.ReadMeta(t, dir, name)
	ctx := context.New()
	p, err := m.Trace(testBackend(t), ctx, meta.InputShape[1:])
	if err != nil {
		t.Fatal(err)
	}
	return m, ctx, p, meta
}

func run(t *testing.T, p *program.Program, ctx *context.Context, x []float32, dims []int) []float32 {
	t.Helper()
	out, err := p.Run(testBackend(t), ctx, tensors.FromFlatDataAndDimensions(x, dims...))
	if err != nil {
		t.Fatal(err)
	}
	return tensors.MustCopyFlatData[float32](out)
}

func readFloats(t *testing.T, path string) []float32 {
	t.Helper()
	x, err := peers.ReadFloats(path)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// close fails t unless |got − want| ≤ tol·(1 + max|want|).
func close(t *testing.T, what string, want, got []float32, tol float64) {
	t.Helper()
	diff, scale, err := peers.MaxDiff(want, got)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if diff > tol*(1+scale) {
		t.Errorf("%s: max difference %.3g (outputs up to %.3g), want ≤ %g relative", what, diff, scale, tol)
	} else {
		t.Logf("%s: max difference %.3g (outputs up to %.3g)", what, diff, scale)
	}
}

// TestImportMatchesTorchAndORT: the imported torchvision models, a PyTorch vit-tiny (attention:
// MatMul, Softmax, Reshape, Transpose; LayerNorm and GELU exported as elementary ops) and the
// PyTorch-trained LeNet-300-100 give PyTorch's outputs and ONNX Runtime's on a fixed input.
func TestImportMatchesTorchAndORT(t *testing.T) {
	names := []string{"lenet", "vit", "resnet18", "mobilenet_v2", "resnet50"}
	dir := peers.TorchModels(t, names...)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			m, ctx, p, meta := traced(t, dir, name)
			x := readFloats(t, filepath.Join(dir, name+".input.bin"))
			got := run(t, p, ctx, x, meta.InputShape)
			close(t, "vs PyTorch", readFloats(t, filepath.Join(dir, name+".output.bin")), got, 1e-4)
			close(t, "vs ONNX Runtime", peers.RunORT(t, m.Path, x, meta.InputShape, 0), got, 1e-4)
			// Folded for inference (channels-first convolutions rewritten channels-last): the same.
			values, err := p.Values(ctx)
			if err != nil {
				t.Fatal(err)
			}
			fp, fv, err := program.Fold(testBackend(t), p, values)
			if err != nil {
				t.Fatal(err)
			}
			fctx, err := fp.NewContext(fv)
			if err != nil {
				t.Fatal(err)
			}
			close(t, "folded vs traced", got, run(t, fp, fctx, x, meta.InputShape), 1e-4)
			if m.Weights != meta.Weights { // PyTorch's parameters also count the batch norms folded into the convs
				t.Errorf("Weights = %d, PyTorch's convolutions and linear layers have %d", m.Weights, meta.Weights)
			}
		})
	}
}

// TestLayers: the prunable layers of an imported graph are its Conv and Gemm weights, with their
// ONNX layouts, and nothing else.
func TestLayers(t *testing.T) {
	dir := peers.TorchModels(t, "lenet", "vit", "resnet18", "mobilenet_v2", "resnet50")
	for _, tc := range []struct {
		name                string
		convs, gemm, matmul int
		depthwise           int
	}{{"lenet", 0, 3, 0, 0}, {"vit", 0, 1, 25, 0}, {"resnet18", 20, 1, 0, 0}, {"resnet50", 53, 1, 0, 0}, {"mobilenet_v2", 52, 1, 0, 17}} {
		m, err := onnxmodel.Open(filepath.Join(dir, tc.name+".onnx"))
		if err != nil {
			t.Fatal(err)
		}
		var convs, gemm, matmul, depthwise int
		for _, l := range m.Layers {
			switch l.Op {
			case "Conv":
				convs++
				if l.Groups > 1 {
					depthwise++
				}
				if l.Layout.Out != (pruning.Axes{Begin: 0, End: 1}) || l.Layout.Kind != pruning.KindConv {
					t.Errorf("%s: %s layout %+v", tc.name, l.Initializer, l.Layout)
				}
			case "MatMul":
				matmul++
				if l.Layout.In != (pruning.Axes{Begin: 0, End: 1}) { // PyTorch stores x·W's W as [in, out]
					t.Errorf("%s: %s layout %+v", tc.name, l.Initializer, l.Layout)
				}
				continue // PyTorch's MatMul + Add: the bias is another node
			case "Gemm":
				gemm++
				if l.Layout.Out != (pruning.Axes{Begin: 0, End: 1}) || l.Layout.In != (pruning.Axes{Begin: 1, End: 2}) {
					t.Errorf("%s: %s layout %+v (PyTorch's Linear exports transB=1: [out, in])", tc.name, l.Initializer, l.Layout)
				}
			}
			if l.Bias == "" {
				t.Errorf("%s: %s has no bias (batch norm folds into every conv's bias)", tc.name, l.Initializer)
			}
		}
		if convs != tc.convs || gemm != tc.gemm || matmul != tc.matmul || depthwise != tc.depthwise {
			t.Errorf("%s: %d convs (%d depthwise), %d gemm, %d matmul; want %d (%d), %d, %d", tc.name, convs, depthwise,
				gemm, matmul, tc.convs, tc.depthwise, tc.gemm, tc.matmul)
		}
	}
}

// TestPrunedExportRunsInORT: LeNet-300-100 pruned 90% by global magnitude through the pruning
// package (masks on the ONNX initializers, Gemm's [out, in] layout), written back, gives in ONNX
// Runtime the masked model's outputs, with exactly the pruned weights zero in the file.
func TestPrunedExportRunsInORT(t *testing.T) {
	dir := peers.TorchModels(t, "lenet")
	m, ctx, p, meta := traced(t, dir, "lenet")
	if _, err := pruning.AttachMasks(ctx, m.Selector()); err != nil {
		t.Fatal(err)
	}
	res, err := pruning.PruneOnce(ctx, pruning.Config{Allocation: pruning.Global{}}, pruning.Sparsity(0.9))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Layers) != 3 {
		t.Fatalf("pruned %d layers, want LeNet's 3", len(res.Layers))
	}
	out := filepath.Join(t.TempDir(), "pruned.onnx")
	if err := m.Write(out, ctx); err != nil {
		t.Fatal(err)
	}
	x := readFloats(t, filepath.Join(dir, "lenet.input.bin"))
	close(t, "ONNX Runtime vs Prunelab", run(t, p, ctx, x, meta.InputShape), peers.RunORT(t, out, x, meta.InputShape, 0), 1e-5)

	_, weights, err := onnxmodel.ReadWeights(out)
	if err != nil {
		t.Fatal(err)
	}
	masks, err := pruning.GetMasks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range m.Layers {
		w := weights[l.Path]
		keep := masks[l.Path].Keep
		wrong := 0
		for i := range w {
			if (w[i] == 0) == keep[i] {
				wrong++
			}
		}
		if wrong > 0 {
			t.Errorf("%s: %d weights are zero where the mask keeps them, or the reverse", l.Initializer, wrong)
		}
	}
}

// TestCompactImported: resnet18, resnet50, mobilenet_v2, a LeNet-5 flattened by a hard-coded
// x.view(-1, 400) and the PyTorch vit-tiny with 30% and 50% of their coupled channels pruned
// (residual streams together; MobileNet's depthwise convolutions pass channels through; LeNet-5's
// Reshape target rewritten; the ViT's attention heads whole, its view(b, t, heads, hd) targets
// rewritten, and its MLP neurons), compacted, written as ONNX: the file passes the ONNX checker,
// ONNX Runtime computes the masked model's outputs, and it is smaller in proportion.
func TestCompactImported(t *testing.T) {
	if testing.Short() {
		t.Skip("compacts resnet50 twice")
	}
	dir := peers.TorchModels(t, "lenet5", "resnet18", "resnet50", "mobilenet_v2", "vit")
	for _, name := range []string{"lenet5", "vit", "resnet18", "mobilenet_v2", "resnet50"} {
		for _, sparsity := range []float64{0.3, 0.5} {
			t.Run(name+"/"+pct(sparsity), func(t *testing.T) {
				m, ctx, p, meta := traced(t, dir, name)
				if _, err := pruning.AttachMasks(ctx, m.Selector()); err != nil {
					t.Fatal(err)
				}
				cp, err := m.PruneChannels(ctx, p, sparsity, 1)
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("%d of %d channels pruned, %d bias entries zeroed", cp.Pruned, cp.Channels, cp.Zeroed)
				if name == "vit" {
					// Per block, its 4 heads (each q, k, v columns and output rows together) and its 128 MLP
					// neurons are families of their own; the residual stream cannot go (LayerNorms).
					heads, neurons := math.RoundToEven(sparsity*4), math.RoundToEven(sparsity*128)
					if want := 4 * int(heads+neurons); cp.Pruned != want {
						t.Errorf("%d channels pruned, want %d: %v heads and %v MLP neurons in each of the 4 blocks", cp.Pruned,
							want, heads, neurons)
					}
				}

				values, err := p.Values(ctx)
				if err != nil {
					t.Fatal(err)
				}
				res, err := compact.Compact(testBackend(t), p, values, compact.Options{})
				if err != nil {
					t.Fatal(err)
				}
				out := filepath.Join(t.TempDir(), name+".onnx")
				if err := m.WriteCompacted(testBackend(t), out, res); err != nil {
					t.Fatal(err)
				}
				if err := peers.CheckONNX(t, out); err != nil {
					t.Error(err)
				}
				x := readFloats(t, filepath.Join(dir, name+".input.bin"))
				close(t, "ONNX Runtime (compacted) vs Prunelab (masked)", run(t, p, ctx, x, meta.InputShape),
					peers.RunORT(t, out, x, meta.InputShape, 0), 1e-4)
				before, after := peers.FileSize(t, m.Path), peers.FileSize(t, out)
				ratio := float64(res.Report.ParamsAfter) / float64(res.Report.ParamsBefore)
				t.Logf("params %d → %d (%.3f), file %d → %d bytes (%.3f), theoretical speedup %.2f×",
					res.Report.ParamsBefore, res.Report.ParamsAfter, ratio, before, after,
					float64(after)/float64(before), res.Report.Speedup)
				tol := 0.01
				if name == "vit" {
					tol = 0.05 // its graph (464 operations) is a tenth of its file
				}
				if got := float64(after) / float64(before); got > ratio+tol || got < ratio-tol {
					t.Errorf("file shrank to %.3f of its size, parameters to %.3f", got, ratio)
				}
				if ratio > 1-sparsity/2 && name != "lenet5" { // LeNet-5's output layer and input are most of it
					t.Errorf("parameters shrank only to %.3f at %.0f%% channel sparsity", ratio, 100*sparsity)
				}
			})
		}
	}
}

func pct(s float64) string { return string(rune('0'+int(s*10))) + "0%" }

// TestForImages: data set images reach the model in its own layout, and what does not fit says so.
func TestForImages(t *testing.T) {
	dir := peers.TorchModels(t, "lenet", "resnet18")
	lenet, err := onnxmodel.Open(filepath.Join(dir, "lenet.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	mm, err := lenet.ForImages([]int{28, 28, 1}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if mm.NumClasses != 10 || !slices.Equal(mm.Prunable, lenet.Prunable()) || mm.Init == nil {
		t.Errorf("ForImages = %+v", mm)
	}
	for _, tc := range []struct {
		model   *onnxmodel.Model
		example []int
		classes int
	}{{lenet, []int{32, 32, 3}, 10}, {lenet, []int{28, 28, 1}, 100}} {
		if _, err := tc.model.ForImages(tc.example, tc.classes); !errors.Is(err, onnxmodel.ErrInputShape) {
			t.Errorf("ForImages(%v, %d) = %v, want ErrInputShape", tc.example, tc.classes, err)
		}
	}
	resnet, err := onnxmodel.Open(filepath.Join(dir, "resnet18.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := resnet.ForImages([]int{28, 28, 1}, 0); !errors.Is(err, onnxmodel.ErrInputShape) {
		t.Errorf("resnet18 on 1-channel images: %v, want ErrInputShape", err)
	}
	if _, err := resnet.ForImages([]int{32, 32, 3}, 0); err != nil {
		t.Errorf("resnet18 on 32×32×3 images: %v", err)
	}
}

// TestWriteCompactedRefuses: neurons pruned by their weights alone keep their biases, so their
// outputs (ReLU(bias)) are constants that compaction adds back as extra terms — which the ONNX
// graph cannot hold: an ErrCompaction that says to prune the biases too, and no file.
func TestWriteCompactedRefuses(t *testing.T) {
	dir := peers.TorchModels(t, "lenet")
	m, ctx, p, _ := traced(t, dir, "lenet")
	if _, err := pruning.AttachMasks(ctx, m.Selector()); err != nil {
		t.Fatal(err)
	}
	_, err := pruning.PruneOnce(ctx, pruning.Config{Structure: pruning.OutputChannels{},
		Skip: []string{"/ONNX/fc2.weight"}}, pruning.Sparsity(0.5))
	if err != nil {
		t.Fatal(err)
	}
	values, err := p.Values(ctx)
	if err != nil {
		t.Fatal(err)
	}
	res, err := compact.Compact(testBackend(t), p, values, compact.Options{})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "c.onnx")
	err = m.WriteCompacted(testBackend(t), out, res)
	if !errors.Is(err, onnxmodel.ErrCompaction) || !strings.Contains(err.Error(), "PruneChannels") {
		t.Errorf("WriteCompacted with compensation terms: %v", err)
	}
	if _, statErr := os.Stat(out); statErr == nil {
		t.Errorf("%s was written", out)
	}
}

// TestWriteQuantized: LeNet-300-100 pruned to 90% and resnet18 written with INT8 weights
// (DequantizeLinear per output channel) pass the ONNX checker; ONNX Runtime computes what Prunelab
// computes with the dequantized weights; pruned weights stay exactly zero; the files shrink.
func TestWriteQuantized(t *testing.T) {
	dir := peers.TorchModels(t, "lenet", "resnet18")
	for _, name := range []string{"lenet", "resnet18"} {
		t.Run(name, func(t *testing.T) {
			m, ctx, _, meta := traced(t, dir, name)
			if _, err := pruning.AttachMasks(ctx, m.Selector()); err != nil {
				t.Fatal(err)
			}
			if _, err := pruning.PruneOnce(ctx, pruning.Config{Allocation: pruning.Global{}}, pruning.Sparsity(0.9)); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(t.TempDir(), name+"-int8.onnx")
			diff, err := m.WriteQuantized(testBackend(t), out, ctx, meta.InputShape[1:])
			if err != nil {
				t.Fatal(err)
			}
			if err := peers.CheckONNX(t, out); err != nil {
				t.Error(err)
			}
			// Prunelab with the dequantized weights against ONNX Runtime on the INT8 file.
			deq := context.New()
			if err := m.LoadVariables(deq); err != nil {
				t.Fatal(err)
			}
			masks, err := pruning.GetMasks(ctx)
			if err != nil {
				t.Fatal(err)
			}
			zeros := 0
			for _, l := range m.Layers {
				w := tensors.MustCopyFlatData[float32](ctx.GetVariableByScopeAndName(context.SplitScope(l.Path)).MustValue())
				qt, err := quantize.NewTensor(w, l.Shape, l.Layout.Out.Begin, nil)
				if err != nil {
					t.Fatal(err)
				}
				dw := qt.Dequantize()
				for i, keep := range masks[l.Path].Keep {
					if !keep && dw[i] != 0 {
						t.Fatalf("%s[%d] pruned but %g after INT8", l.Initializer, i, dw[i])
					}
					if dw[i] == 0 {
						zeros++
					}
				}
				deq.GetVariableByScopeAndName(context.SplitScope(l.Path)).MustSetValue(tensors.FromFlatDataAndDimensions(dw, l.Shape...))
			}
			dp, err := m.Trace(testBackend(t), deq, meta.InputShape[1:])
			if err != nil {
				t.Fatal(err)
			}
			x := readFloats(t, filepath.Join(dir, name+".input.bin"))
			close(t, "ONNX Runtime (INT8 file) vs Prunelab (dequantized)", run(t, dp, deq, x, meta.InputShape),
				peers.RunORT(t, out, x, meta.InputShape, 0), 1e-4)
			before, after := peers.FileSize(t, m.Path), peers.FileSize(t, out)
			t.Logf("verified within %.2g on write; %d zero weights; file %d → %d bytes (%.3f)", diff, zeros, before, after,
				float64(after)/float64(before))
			if float64(after) > 0.3*float64(before) {
				t.Errorf("INT8 file %d bytes, float %d", after, before)
			}
		})
	}
}
