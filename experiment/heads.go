package experiment

import (
	"cmp"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/train/losses"

	"github.com/prunelab/prunelab/datasets"
	"github.com/prunelab/prunelab/models"
	"github.com/prunelab/prunelab/pruning"
	"github.com/prunelab/prunelab/training"
)

// HeadScores are the attention heads' importance, by head-gate variable path
// ("/block0/attn/head_gates"), one value per head.
type HeadScores map[string][]float64

// Layers lists the attention layers (head-gate paths) in block order ("/block2" before "/block10").
func (h HeadScores) Layers() []string {
	layers := sortedKeys(h)
	block := func(path string) int {
		var b int
		if _, err := fmt.Sscanf(path, "/block%d/", &b); err != nil {
			return -1
		}
		return b
	}
	slices.SortStableFunc(layers, func(a, b string) int { return cmp.Compare(block(a), block(b)) })
	return layers
}

// HeadImportance scores the attention heads of a transformer from the registry (vit-tiny) as
// Michel et al. 2019 ("Are Sixteen Heads Really Better than One?", NeurIPS) do: the expected
// absolute gradient of the loss with respect to each head's gate (models.HeadGates), over
// batches of 60 images of im, then each layer's scores divided by their L2 norm. The session holds
// the trained model (masked or not); its gates are left as they are.
func HeadImportance(s *training.Session, m models.Model, im *datasets.Images, batches int) (HeadScores, error) {
	b, err := datasets.NewBatches(im, datasets.BatchConfig{BatchSize: min(60, im.N), DropRemainder: true,
		Normalization: s.Config().Normalization})
	if err != nil {
		return nil, err
	}
	var paths []string
	// Not Reuse: gates missing from an older checkpoint are created (all ones).
	exec, err := context.NewExec(s.Backend(), s.Context().Checked(false), func(ctx *context.Context, x, y *graph.Node) []*graph.Node {
		logits := m.Build(ctx, x)
		loss := graph.ReduceAllMean(losses.SparseCategoricalCrossEntropyLogits([]*graph.Node{y}, []*graph.Node{logits}))
		var gates []*graph.Node
		paths = paths[:0]
		for v := range ctx.IterVariables() {
			if isGate(v, models.HeadGates) {
				gates = append(gates, v.ValueGraph(x.Graph()))
				paths = append(paths, v.ScopeAndName())
			}
		}
		if len(gates) == 0 {
			panic(fmt.Sprintf("experiment: %s has no attention head gates (%s)", m.Name, models.HeadGates))
		}
		return graph.Gradient(loss, gates...)
	})
	if err != nil {
		return nil, err
	}
	defer exec.Finalize()
	scores := HeadScores{}
	n := 0
	for n < batches {
		_, inputs, labels, err := b.Yield()
		if err != nil {
			break
		}
		grads, err := exec.Exec(inputs[0], labels[0])
		if err != nil {
			return nil, fmt.Errorf("experiment: head importance of %s: %w", m.Name, err)
		}
		for i, g := range grads {
			v := tensors.MustCopyFlatData[float32](g)
			g.FinalizeAll()
			if scores[paths[i]] == nil {
				scores[paths[i]] = make([]float64, len(v))
			}
			for h, x := range v {
				scores[paths[i]][h] += math.Abs(float64(x))
			}
		}
		n++
	}
	if n == 0 {
		return nil, badOptionsf("head importance: %s has fewer than one batch of images (%d)", im.Name, im.N)
	}
	for _, s := range scores {
		norm := 0.0
		for _, x := range s {
			norm += x * x
		}
		for h := range s {
			if norm > 0 {
				s[h] /= math.Sqrt(norm)
			}
		}
	}
	return scores, nil
}

// HeadRef is one attention head: its layer (head-gate path) and index.
type HeadRef struct {
	Layer string
	Head  int
}

// LeastImportantHeads returns the n heads of lowest importance over all layers (ties: earlier layer,
// lower index), the order in which Michel et al. prune, passing over a layer's last head: every
// layer keeps one. More than all heads but one per layer is an [ErrOptions].
func LeastImportantHeads(scores HeadScores, n int) ([]HeadRef, error) {
	var all []HeadRef
	left := map[string]int{}
	for _, l := range scores.Layers() {
		for h := range scores[l] {
			all = append(all, HeadRef{l, h})
		}
		left[l] = len(scores[l])
	}
	if n < 0 || n > len(all)-len(left) {
		return nil, badOptionsf("masking %d of %d heads: at most %d can go, one head of every layer stays", n,
			len(all), len(all)-len(left))
	}
	slices.SortStableFunc(all, func(a, b HeadRef) int { return cmp.Compare(scores[a.Layer][a.Head], scores[b.Layer][b.Head]) })
	var out []HeadRef
	for _, r := range all {
		if len(out) == n {
			break
		}
		if left[r.Layer] > 1 {
			left[r.Layer]--
			out = append(out, r)
		}
	}
	return out, nil
}

// MaskHeads sets the head gates of ctx so that exactly the given heads are masked (gate 0) and
// every other head is on (gate 1). A layer left without heads is an error naming the layer.
func MaskHeads(ctx *context.Context, masked []HeadRef) error {
	off := map[string]map[int]bool{}
	for _, r := range masked {
		if off[r.Layer] == nil {
			off[r.Layer] = map[int]bool{}
		}
		off[r.Layer][r.Head] = true
	}
	found := 0
	for v := range ctx.IterVariables() {
		if !isGate(v, models.HeadGates) {
			continue
		}
		n := v.Shape().Size()
		gates := make([]float32, n)
		for h := range gates {
			if !off[v.ScopeAndName()][h] {
				gates[h] = 1
			}
		}
		if len(off[v.ScopeAndName()]) >= n {
			return badOptionsf("masking every head of %s", v.Scope())
		}
		if len(off[v.ScopeAndName()]) > 0 {
			found++
		}
		if err := v.SetValue(tensors.FromFlatDataAndDimensions(gates, n)); err != nil {
			return err
		}
	}
	if found != len(off) {
		return badOptionsf("some masked heads name no attention layer: %v", masked)
	}
	return nil
}

// RemoveHeads removes masked attention heads physically from the values of a transformer with
// blocks blocks of heads heads of hd features (models.ViTConfig, models.GPTConfig; values as
// program.Program.Values gives them): each block's q, k and v weight columns and biases of those
// heads, its output projection's rows and its head gates go. It returns the new values and the
// heads each block keeps, for the configuration's BlockHeads; built with them, the model computes
// what the masked one does. A block left without heads is an [ErrOptions].
func RemoveHeads(values map[string][]float32, masked []HeadRef, blocks, heads, hd int) (map[string][]float32, []int, error) {
	drop := make([]map[int]bool, blocks)
	for _, r := range masked {
		var b int
		if _, err := fmt.Sscanf(r.Layer, "/block%d/attn/"+models.HeadGates, &b); err != nil || b < 0 || b >= blocks ||
			r.Head < 0 || r.Head >= heads {
			return nil, nil, badOptionsf("head %d of %s is not a head of this %d-block, %d-head model", r.Head, r.Layer,
				blocks, heads)
		}
		if drop[b] == nil {
			drop[b] = map[int]bool{}
		}
		drop[b][r.Head] = true
	}
	out := make(map[string][]float32, len(values))
	for k, v := range values {
		out[k] = v
	}
	kept := make([]int, blocks)
	for b := range blocks {
		var keep []int
		for h := range heads {
			if !drop[b][h] {
				keep = append(keep, h)
			}
		}
		if len(keep) == 0 {
			return nil, nil, badOptionsf("removing every head of /block%d/attn", b)
		}
		kept[b] = len(keep)
		prefix := fmt.Sprintf("/block%d/attn/", b)
		get := func(name string, size int) ([]float32, error) {
			v, ok := values[prefix+name]
			if !ok || len(v) != size {
				return nil, fmt.Errorf("experiment: RemoveHeads: %s%s: %d values, want %d", prefix, name, len(v), size)
			}
			return v, nil
		}
		width := heads * hd
		for _, l := range []string{"q", "k", "v"} {
			w, err := get(l+"/dense/weights", width*width)
			if err != nil {
				return nil, nil, err
			}
			bias, err := get(l+"/dense/biases", width)
			if err != nil {
				return nil, nil, err
			}
			var nw, nb []float32
			for row := range width {
				for _, h := range keep {
					nw = append(nw, w[row*width+h*hd:row*width+(h+1)*hd]...)
				}
			}
			for _, h := range keep {
				nb = append(nb, bias[h*hd:(h+1)*hd]...)
			}
			out[prefix+l+"/dense/weights"], out[prefix+l+"/dense/biases"] = nw, nb
		}
		w, err := get("out/dense/weights", width*width)
		if err != nil {
			return nil, nil, err
		}
		var nw []float32
		for _, h := range keep {
			nw = append(nw, w[h*hd*width:(h+1)*hd*width]...)
		}
		out[prefix+"out/dense/weights"] = nw
		gates, err := get(models.HeadGates, heads)
		if err != nil {
			return nil, nil, err
		}
		var ng []float32
		for _, h := range keep {
			ng = append(ng, gates[h])
		}
		out[prefix+models.HeadGates] = ng
	}
	return out, kept, nil
}

// RandomHeadOrder returns every head of scores' layers but one per layer, in a random order drawn
// with seed, passing over a layer's last head as [LeastImportantHeads] does: the control of Michel
// et al.'s curve (its first n heads are n heads masked at random).
func RandomHeadOrder(scores HeadScores, seed uint64) []HeadRef {
	var all []HeadRef
	left := map[string]int{}
	for _, l := range scores.Layers() {
		for h := range scores[l] {
			all = append(all, HeadRef{l, h})
		}
		left[l] = len(scores[l])
	}
	rand.New(rand.NewPCG(seed, 0x4ead)).Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	return slices.DeleteFunc(all, func(r HeadRef) bool {
		if left[r.Layer] == 1 {
			return true
		}
		left[r.Layer]--
		return false
	})
}

// isGate reports whether v is a model's gate variable of that name (models.HeadGates,
// models.BlockGate), not a pruning mask of one (masks live under pruning.Scope with the name of the
// variable they mask).
func isGate(v *context.Variable, name string) bool {
	return v.Name() == name && !strings.HasPrefix(v.Scope(), pruning.Scope)
}

// blockOf returns the block number of a variable path "/block<i>/...", or -1.
func blockOf(path string) int {
	var b int
	if _, err := fmt.Sscanf(path, "/block%d/", &b); err != nil {
		return -1
	}
	return b
}

// MaskedHeads returns the attention heads of ctx's transformer whose gate is 0 (masked by
// [MaskHeads] or pruned with PruneSettings.Structure "heads"), in block order and by index within a
// block: what [RemoveHeads] takes.
func MaskedHeads(ctx *context.Context) ([]HeadRef, error) {
	var out []HeadRef
	for v := range ctx.IterVariables() {
		if !isGate(v, models.HeadGates) {
			continue
		}
		gates, err := gateValues(v)
		if err != nil {
			return nil, err
		}
		for h, g := range gates {
			if g == 0 {
				out = append(out, HeadRef{Layer: v.ScopeAndName(), Head: h})
			}
		}
	}
	slices.SortFunc(out, func(a, b HeadRef) int {
		return cmp.Or(cmp.Compare(blockOf(a.Layer), blockOf(b.Layer)), cmp.Compare(a.Layer, b.Layer), cmp.Compare(a.Head, b.Head))
	})
	return out, nil
}

// MaskedBlocks returns, in increasing order, the blocks of ctx's transformer whose block gate
// (models.BlockGate) is 0 (pruned with PruneSettings.Structure "blocks"): what the models'
// WithoutBlocks takes.
func MaskedBlocks(ctx *context.Context) ([]int, error) {
	var out []int
	for v := range ctx.IterVariables() {
		if !isGate(v, models.BlockGate) {
			continue
		}
		gates, err := gateValues(v)
		if err != nil {
			return nil, err
		}
		if b := blockOf(v.ScopeAndName()); b >= 0 && len(gates) == 1 && gates[0] == 0 {
			out = append(out, b)
		}
	}
	slices.Sort(out)
	return out, nil
}

// gateValues reads a gate variable's values.
func gateValues(v *context.Variable) ([]float32, error) {
	t, err := v.Value()
	if err != nil {
		return nil, fmt.Errorf("experiment: %s: %w", v.ScopeAndName(), err)
	}
	g, err := tensors.CopyFlatData[float32](t)
	if err != nil {
		return nil, fmt.Errorf("experiment: %s: %w", v.ScopeAndName(), err)
	}
	return g, nil
}

// HeadSparsity is the sparsity of one attention head's weights: its columns of the q, k and v
// projections and its rows of the output projection (biases not counted).
type HeadSparsity struct {
	Block    int     `json:"block"`
	Head     int     `json:"head"`
	Weights  int     `json:"weights"`
	Zeros    int     `json:"zeros"`
	Sparsity float64 `json:"sparsity"`
	// Masked says the head's gate is 0 (models.HeadGates): it contributes nothing, whatever its
	// weights.
	Masked bool `json:"masked,omitempty"`
}

// HeadSparsities reports the sparsity of every attention head of a transformer with blocks blocks
// of heads heads of hd features (models.ViTConfig, models.GPTConfig; values as
// program.Program.Values gives them), block by block: how an unstructured or N:M pruning spread
// over the heads. Errors name a missing or misshapen projection.
func HeadSparsities(values map[string][]float32, blocks, heads, hd int) ([]HeadSparsity, error) {
	width := heads * hd
	var out []HeadSparsity
	for b := range blocks {
		prefix := fmt.Sprintf("/block%d/attn/", b)
		ws := map[string][]float32{}
		for _, l := range []string{"q", "k", "v", "out"} {
			w := values[prefix+l+"/dense/weights"]
			if len(w) != width*width {
				return nil, fmt.Errorf("experiment: head sparsity: %s%s/dense/weights: %d values, want %d×%d", prefix, l,
					len(w), width, width)
			}
			ws[l] = w
		}
		gates := values[prefix+models.HeadGates]
		for h := range heads {
			s := HeadSparsity{Block: b, Head: h, Weights: 4 * width * hd, Masked: len(gates) == heads && gates[h] == 0}
			for row := range width {
				for _, l := range []string{"q", "k", "v"} {
					for _, x := range ws[l][row*width+h*hd : row*width+(h+1)*hd] {
						if x == 0 {
							s.Zeros++
						}
					}
				}
			}
			for _, x := range ws["out"][h*hd*width : (h+1)*hd*width] {
				if x == 0 {
					s.Zeros++
				}
			}
			s.Sparsity = float64(s.Zeros) / float64(s.Weights)
			out = append(out, s)
		}
	}
	return out, nil
}

// writeHeadSparsities prints per-head sparsities as a blocks × heads table (nothing without heads).
func writeHeadSparsities(w io.Writer, heads []HeadSparsity) {
	if len(heads) == 0 {
		return
	}
	fmt.Fprint(w, "  head sparsity  (%, a row per block)")
	block := -1
	for _, h := range heads {
		if h.Block != block {
			block = h.Block
			fmt.Fprintf(w, "\n    block %d:", block)
		}
		fmt.Fprintf(w, " %5.1f", 100*h.Sparsity)
		if h.Masked {
			fmt.Fprint(w, "(gated off)")
		}
	}
	fmt.Fprintln(w)
}
