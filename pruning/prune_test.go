package pruning

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// layerSpec is a variable with given values, for tests that need no graph.
type layerSpec struct {
	path   string
	shape  []int
	values []float32
}

// contextWith creates the variables and their masks.
func contextWith(t testing.TB, specs ...layerSpec) *context.Context {
	t.Helper()
	ctx := context.New()
	for _, s := range specs {
		scope, name := context.SplitScope(s.path)
		ctx.InAbsPath(scope).VariableWithValue(name, tensors.FromFlatDataAndDimensions(s.values, s.shape...))
	}
	if _, err := AttachMasks(ctx, Selector{Include: []string{"**"}}); err != nil {
		t.Fatal(err)
	}
	return ctx
}

// seq returns [start, start+1, ...] of length n, alternating sign.
func seq(n int, start float32) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = start + float32(i)
		if i%2 == 1 {
			v[i] = -v[i]
		}
	}
	return v
}

// keepBits renders a mask as a string of 0/1.
func keepBits(m *Mask) string {
	b := make([]byte, len(m.Keep))
	for i, k := range m.Keep {
		b[i] = '0'
		if k {
			b[i] = '1'
		}
	}
	return string(b)
}

func masksAsBits(t testing.TB, ctx *context.Context) map[string]string {
	t.Helper()
	set, err := GetMasks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for p, m := range set {
		out[p] = keepBits(m)
	}
	return out
}

func TestPruneOnce(t *testing.T) {
	// a: [2,4] weights 1..8 with alternating signs; b: [4,2] weights 0.1..0.8 (all smaller than a's).
	small := []float32{0.1, -0.2, 0.3, -0.4, 0.5, -0.6, 0.7, -0.8}
	specs := []layerSpec{
		{"/a/dense/weights", []int{2, 4}, seq(8, 1)},
		{"/b/dense/weights", []int{4, 2}, small},
	}
	tests := []struct {
		name    string
		cfg     Config
		amounts []Amount
		want    map[string]string
	}{
		{"layerwise 50%", Config{}, []Amount{Sparsity(0.5)},
			map[string]string{"/a/dense/weights": "00001111", "/b/dense/weights": "00001111"}},
		{"global 50%", Config{Allocation: Global{}}, []Amount{Sparsity(0.5)},
			map[string]string{"/a/dense/weights": "11111111", "/b/dense/weights": "00000000"}},
		{"global 50% min keep 2", Config{Allocation: Global{}, MinKeep: 2}, []Amount{Sparsity(0.5)},
			map[string]string{"/a/dense/weights": "00111111", "/b/dense/weights": "00000011"}},
		{"iterative of remaining 0.5 twice", Config{}, []Amount{FractionOfRemaining(0.5), FractionOfRemaining(0.5)},
			map[string]string{"/a/dense/weights": "00000011", "/b/dense/weights": "00000011"}},
		{"target sparsity is monotone", Config{}, []Amount{Sparsity(0.75), Sparsity(0.25)},
			map[string]string{"/a/dense/weights": "00000011", "/b/dense/weights": "00000011"}},
		{"per layer", Config{Allocation: PerLayer{Amounts: map[string]float64{"/a/**": 0.25}}}, []Amount{Sparsity(0.5)},
			map[string]string{"/a/dense/weights": "00111111", "/b/dense/weights": "00001111"}},
		{"skip", Config{Skip: []string{"/b/**"}}, []Amount{Sparsity(0.5)},
			map[string]string{"/a/dense/weights": "00001111", "/b/dense/weights": "11111111"}},
		// a as [2,4]: column L1 norms 6, 8, 10, 12 -> prune columns 0,1.
		// b columns: |col0| = 1.6 < |col1| = 2.0.
		{"output neurons", Config{Structure: OutputChannels{}, Criterion: LnNormCriterion{P: 1}}, []Amount{Sparsity(0.5)},
			map[string]string{"/a/dense/weights": "00110011", "/b/dense/weights": "01010101"}},
		// rows: a row0 sum 10, row1 26 -> prune row 0. b rows (0.3, 0.7, 1.1, 1.5) -> prune rows 0,1.
		{"input neurons", Config{Structure: InputChannels{}}, []Amount{Sparsity(0.5)},
			map[string]string{"/a/dense/weights": "00001111", "/b/dense/weights": "00001111"}},
		// 2:4 along inputs needs in%4==0: only b ([4,2]) qualifies, so skip a.
		{"2:4", Config{Structure: NM{N: 2, M: 4}, Skip: []string{"/a/**"}}, []Amount{Sparsity(0)},
			map[string]string{"/a/dense/weights": "11111111", "/b/dense/weights": "00001111"}},
		// a [2,4] with 2x1 blocks: blocks are columns (2 inputs x 1 output) -> same as neurons.
		// b [4,2] 2x1 blocks: (0.1,0.3) (0.2,0.4) (0.5,0.7) (0.6,0.8) -> prune the first two.
		{"block 2x1", Config{Structure: Blocks{In: 2, Out: 1}}, []Amount{Sparsity(0.5)},
			map[string]string{"/a/dense/weights": "00110011", "/b/dense/weights": "00001111"}},
		// 1x2 blocks in a: pairs of outputs per input: (1,2),(3,4),(5,6),(7,8) -> prune 2 lowest.
		{"block 1x2", Config{Structure: Blocks{In: 1, Out: 2}}, []Amount{Sparsity(0.5)},
			map[string]string{"/a/dense/weights": "00001111", "/b/dense/weights": "00001111"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := contextWith(t, specs...)
			for _, a := range tc.amounts {
				if _, err := PruneOnce(ctx, tc.cfg, a); err != nil {
					t.Fatal(err)
				}
			}
			if diff := cmp.Diff(tc.want, masksAsBits(t, ctx)); diff != "" {
				t.Errorf("masks (-want +got):\n%s", diff)
			}
			// Pruned weights are zero, kept ones untouched.
			set, _ := GetMasks(ctx)
			for _, s := range specs {
				w := weightsOf(t, ctx, s.path)
				for i, k := range set[s.path].Keep {
					want := float64(s.values[i])
					if !k {
						want = 0
					}
					if w[i] != want {
						t.Errorf("%s[%d] = %g, want %g", s.path, i, w[i], want)
					}
				}
			}
		})
	}
}

func TestPruneResultAndErrors(t *testing.T) {
	specs := []layerSpec{{"/a/dense/weights", []int{10, 10}, seq(100, 1)}, {"/b/dense/weights", []int{3, 3}, seq(9, 1)}}
	ctx := contextWith(t, specs...)
	res, err := PruneOnce(ctx, Config{Allocation: Global{}}, Sparsity(0.37))
	if err != nil {
		t.Fatal(err)
	}
	want := &Result{Criterion: "magnitude", Structure: "unstructured", Allocation: "global", Amount: Sparsity(0.37),
		Layers: []LayerResult{
			{Path: "/a/dense/weights", Size: 100, PrunedAfter: 31, Sparsity: 0.31},
			{Path: "/b/dense/weights", Size: 9, PrunedAfter: 9, Sparsity: 1},
		},
		Size: 109, PrunedAfter: 40, Sparsity: 40.0 / 109}
	if diff := cmp.Diff(want, res, cmpopts.EquateApprox(0, 1e-12)); diff != "" {
		t.Errorf("Result (-want +got):\n%s", diff)
	}

	errCases := []struct {
		name string
		cfg  Config
		a    Amount
		want error
	}{
		{"amount > 1", Config{}, Sparsity(1.5), ErrInvalidAmount},
		{"negative", Config{}, FractionOfRemaining(-0.1), ErrInvalidAmount},
		{"min keep makes it unreachable", Config{MinKeep: 50}, Sparsity(0.9), ErrUnreachable},
		{"N:M on 10 inputs", Config{Structure: NM{N: 2, M: 4}}, Sparsity(0), ErrIncompatibleStructure},
		{"gradients needed", Config{Criterion: TaylorCriterion{}}, Sparsity(0.5), ErrNoGradients},
	}
	for _, tc := range errCases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := contextWith(t, specs...)
			before := masksAsBits(t, ctx)
			_, err := PruneOnce(ctx, tc.cfg, tc.a)
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			if diff := cmp.Diff(before, masksAsBits(t, ctx)); diff != "" {
				t.Errorf("masks changed on error:\n%s", diff)
			}
		})
	}
}

func TestConvStructures(t *testing.T) {
	// Channels-last kernel [kh=1, kw=2, in=2, out=3]; flat index = ((kw*2)+in)*3+out.
	// Filter (out) o has |w| = values at o, o+3, o+6, o+9.
	values := []float32{
		1, 10, 100, // kw0 in0
		1, 10, 100, // kw0 in1
		2, 20, 200, // kw1 in0
		2, 20, 200, // kw1 in1
	}
	spec := layerSpec{"/c0/conv/weights", []int{1, 2, 2, 3}, values}
	tests := []struct {
		name string
		cfg  Config
		a    Amount
		want string
	}{
		{"filters", Config{Structure: OutputChannels{}}, Sparsity(2.0 / 3), "001001001001"},
		{"input channels", Config{Structure: InputChannels{}}, Sparsity(0.5), "000111000111"},
		// |w| = 0.5 5 50 1 10 100 1 10 100 2 20 200: the six smallest are at 0,3,6,9,1,4.
		{"unstructured", Config{}, Sparsity(0.5), "001001011011"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Make input channel 0 smaller so input-channel pruning has a clear loser.
			v := append([]float32(nil), values...)
			for _, i := range []int{0, 1, 2, 6, 7, 8} {
				v[i] /= 2
			}
			ctx := contextWith(t, layerSpec{spec.path, spec.shape, v})
			tg := Targets(ctx)[0]
			if tg.Kind != KindConv || tg.In != (Axes{2, 3}) || tg.Out != (Axes{3, 4}) {
				t.Fatalf("target %+v: want conv with In {2,3}, Out {3,4}", tg)
			}
			if _, err := PruneOnce(ctx, tc.cfg, tc.a); err != nil {
				t.Fatal(err)
			}
			if got := masksAsBits(t, ctx)[spec.path]; got != tc.want {
				t.Errorf("mask %s, want %s", got, tc.want)
			}
		})
	}
}

func TestRandomCriterionIsSeeded(t *testing.T) {
	specs := []layerSpec{{"/a/dense/weights", []int{8, 8}, seq(64, 1)}}
	run := func(seed uint64) string {
		ctx := contextWith(t, specs...)
		if _, err := PruneOnce(ctx, Config{Criterion: RandomCriterion{}, Seed: seed}, Sparsity(0.5)); err != nil {
			t.Fatal(err)
		}
		return masksAsBits(t, ctx)["/a/dense/weights"]
	}
	a, b, c := run(1), run(1), run(2)
	if a != b {
		t.Errorf("same seed gave different masks:\n%s\n%s", a, b)
	}
	if a == c {
		t.Errorf("different seeds gave the same mask")
	}
	if n := countZeros(a); n != 32 {
		t.Errorf("random pruning pruned %d of 64, want 32", n)
	}
}

func countZeros(bits string) int {
	n := 0
	for _, c := range bits {
		if c == '0' {
			n++
		}
	}
	return n
}

func TestRegrow(t *testing.T) {
	// A criterion preferring the first half, then the second half: with Regrow the mask moves,
	// without it the second pruning only removes more.
	first := NewCriterion("first", func(in *ScoreInput) ([]float64, error) {
		s := make([]float64, len(in.Weights))
		for i := range s {
			s[i] = float64(len(s) - i)
		}
		return s, nil
	})
	last := NewCriterion("last", func(in *ScoreInput) ([]float64, error) {
		s := make([]float64, len(in.Weights))
		for i := range s {
			s[i] = float64(i)
		}
		return s, nil
	})
	for _, regrow := range []bool{false, true} {
		ctx := contextWith(t, layerSpec{"/a/dense/weights", []int{2, 4}, seq(8, 1)})
		if _, err := PruneOnce(ctx, Config{Criterion: first, Regrow: regrow}, Sparsity(0.5)); err != nil {
			t.Fatal(err)
		}
		if _, err := PruneOnce(ctx, Config{Criterion: last, Regrow: regrow}, Sparsity(0.5)); err != nil {
			t.Fatal(err)
		}
		want := "11110000" // monotone: the first pruning's mask stays
		if regrow {
			want = "00001111"
		}
		if got := masksAsBits(t, ctx)["/a/dense/weights"]; got != want {
			t.Errorf("regrow=%v: mask %s, want %s", regrow, got, want)
		}
		// Regrown weights come back at zero.
		if regrow {
			w := weightsOf(t, ctx, "/a/dense/weights")
			if w[4] != 0 || w[0] != 0 {
				t.Errorf("regrow: weights %v, want zeros at 0..3 (pruned) and 4..7 (regrown from zero)", w)
			}
		}
	}
}

func TestERK(t *testing.T) {
	layers := []Layer{
		{Target: Target{Scope: "/c", Name: "weights", Shape: []int{3, 3, 3, 16}}},
		{Target: Target{Scope: "/d1", Name: "weights", Shape: []int{1024, 256}}},
		{Target: Target{Scope: "/d2", Name: "weights", Shape: []int{256, 10}}},
	}
	got, err := ERK{}.LayerSparsities(layers, Sparsity(0.9))
	if err != nil {
		t.Fatal(err)
	}
	// Conv raw = 25/432 = 0.0579 and d2 raw = 266/2560 = 0.1039 give densities > 1 at the first
	// eps, so both go dense; d1 takes the whole budget: density = (0.1*N - 432 - 2560)/262144.
	n := 432.0 + 262144 + 2560
	wantD1 := 1 - (0.1*n-432-2560)/262144
	want := map[string]float64{"/c/weights": 0, "/d1/weights": wantD1, "/d2/weights": 0}
	if diff := cmp.Diff(want, got, cmpopts.EquateApprox(0, 1e-9)); diff != "" {
		t.Errorf("ERK (-want +got):\n%s", diff)
	}
	// At low sparsity no layer saturates: densities are eps*raw with overall density exact.
	got, err = ERK{}.LayerSparsities(layers, Sparsity(0.5))
	if err != nil {
		t.Fatal(err)
	}
	zeros := 0.0
	for _, l := range layers {
		zeros += got[l.Path()] * float64(l.Size())
	}
	if math.Abs(zeros/n-0.5) > 1e-9 {
		t.Errorf("ERK overall sparsity %g, want 0.5", zeros/n)
	}
	ratio := (1 - got["/d2/weights"]) / (1 - got["/d1/weights"])
	wantRatio := (266.0 / 2560) / (1280.0 / 262144)
	if got["/d2/weights"] != 0 && math.Abs(ratio-wantRatio) > 1e-9 {
		t.Errorf("density ratio d2/d1 = %g, want %g", ratio, wantRatio)
	}
}

func TestPruneERK(t *testing.T) {
	ctx := contextWith(t, layerSpec{"/a/dense/weights", []int{20, 10}, seq(200, 1)},
		layerSpec{"/b/dense/weights", []int{10, 4}, seq(40, 1)})
	res, err := PruneOnce(ctx, Config{Allocation: ERK{}}, Sparsity(0.5))
	if err != nil {
		t.Fatal(err)
	}
	want, err := ERK{}.LayerSparsities([]Layer{{Target: Targets(ctx)[0]}, {Target: Targets(ctx)[1]}}, Sparsity(0.5))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range res.Layers {
		if n := int(math.Round(want[l.Path] * float64(l.Size))); l.PrunedAfter != n {
			t.Errorf("%s: %d pruned, want %d (ERK sparsity %g)", l.Path, l.PrunedAfter, n, want[l.Path])
		}
	}
	// The small layer is denser, and the total is on target.
	if !(res.Layers[1].Sparsity < res.Layers[0].Sparsity) || math.Abs(res.Sparsity-0.5) > 1.0/240 {
		t.Errorf("ERK result %+v: want the small layer denser and 50%% overall", res)
	}
}

func TestResultJSON(t *testing.T) {
	res := &Result{Criterion: "magnitude", Amount: FractionOfRemaining(0.2), Layers: []LayerResult{{Path: "/a", Size: 4}}}
	js, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(js), `"amount":{"value":0.2,"mode":"of_remaining"}`) {
		t.Errorf("JSON %s: want the amount mode by name", js)
	}
	var back Result
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(res, &back); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}
