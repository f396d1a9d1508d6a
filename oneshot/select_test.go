package oneshot

import (
	"errors"
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestMagnitudeSmallExample(t *testing.T) {
	// In = 4, Out = 2: W[i][j] at i*2+j. Output 0 has weights 4, −1, 3, 0.5; output 1 has
	// 1, 1, −2, 1 (ties, pruned in input order).
	l := Layer{Name: "small", In: 4, Out: 2, W: []float32{4, 1, -1, 1, 3, -2, 0.5, 1}}
	for _, tc := range []struct {
		p    Pattern
		want []bool
	}{
		{Unstructured(0.5), []bool{true, false, false, false, true, true, false, true}},
		{Unstructured(0.25), []bool{true, false, true, true, true, true, false, true}},
		{Unstructured(0), []bool{true, true, true, true, true, true, true, true}},
		{NM(1, 2), []bool{true, false, false, true, true, true, false, false}},
		{NM(3, 4), []bool{true, false, true, true, true, true, false, true}},
	} {
		t.Run(tc.p.String(), func(t *testing.T) {
			got, err := Magnitude(l, tc.p)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("mask (-want +got):\n%s", d)
			}
		})
	}
}

func TestWandaWeighsByInputNorm(t *testing.T) {
	// Input 0 is 10 times larger than input 1: Wanda keeps its smaller weight, magnitude does not.
	l := Layer{Name: "small", In: 2, Out: 1, W: []float32{0.5, 1}}
	s := NewStats(2)
	if err := s.Add([]float32{10, 1, -10, 1}, 2); err != nil {
		t.Fatal(err)
	}
	wanda, err := Wanda(l, s, NM(1, 2))
	if err != nil {
		t.Fatal(err)
	}
	mag, err := Magnitude(l, NM(1, 2))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]bool{true, false}, wanda); d != "" {
		t.Errorf("Wanda mask (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]bool{false, true}, mag); d != "" {
		t.Errorf("magnitude mask (-want +got):\n%s", d)
	}
}

// On correlated inputs of very different scales, each method reaches exactly the pattern and
// the errors order as the papers report: SparseGPT < Wanda < magnitude.
func TestMethodsOrder(t *testing.T) {
	const in, out, rows = 64, 32, 512
	for _, seed := range []uint64{1, 2, 3} {
		f := newFixture(t, seed, in, out, rows)
		for _, p := range []Pattern{Unstructured(0.5), NM(2, 4), NM(4, 8)} {
			t.Run(p.String(), func(t *testing.T) {
				mag, err := Magnitude(f.layer, p)
				if err != nil {
					t.Fatal(err)
				}
				wanda, err := Wanda(f.layer, f.stats, p)
				if err != nil {
					t.Fatal(err)
				}
				sgW, sgKeep, err := SparseGPT(f.layer, f.stats, p, SparseGPTOptions{})
				if err != nil {
					t.Fatal(err)
				}
				for name, keep := range map[string][]bool{"magnitude": mag, "wanda": wanda, "sparsegpt": sgKeep} {
					checkPattern(t, keep, in, out, p)
					if name != "sparsegpt" {
						checkPerOutput(t, keep, in, out, p)
					}
				}
				if cmp.Equal(mag, wanda) {
					t.Fatal("Wanda and magnitude chose the same mask; the fixture should tell them apart")
				}
				eMag := mustError(t, f, applyMask(f.layer, mag))
				eWanda := mustError(t, f, applyMask(f.layer, wanda))
				eSG := mustError(t, f, sgW)
				t.Logf("seed %d: reconstruction error magnitude %.4g, Wanda %.4g, SparseGPT %.4g", seed, eMag, eWanda, eSG)
				if !(eSG < eWanda && eWanda < eMag) {
					t.Errorf("seed %d: errors SparseGPT %g, Wanda %g, magnitude %g: want increasing", seed, eSG, eWanda, eMag)
				}
			})
		}
	}
}

// checkPerOutput fails t unless every output of an unstructured mask prunes round(s·In).
func checkPerOutput(t *testing.T, keep []bool, in, out int, p Pattern) {
	t.Helper()
	if p.IsNM() {
		return
	}
	want := int(math.RoundToEven(p.Sparsity * float64(in)))
	for j := range out {
		pruned := 0
		for i := range in {
			if !keep[i*out+j] {
				pruned++
			}
		}
		if pruned != want {
			t.Fatalf("output %d: %d pruned, want %d", j, pruned, want)
		}
	}
}

func TestMagnitudeLayerRanksTheWholeLayer(t *testing.T) {
	// Output 0 holds the 3 smallest weights: ranked layer-wise at 50% all its prunable weights go
	// (3 of 6), while per output each output loses round(0.5·3) = 2.
	l := Layer{Name: "two-outputs", In: 3, Out: 2, W: []float32{
		0.1, 5,
		-0.2, 4,
		0.3, -6,
	}}
	layer, err := MagnitudeLayer(l, Unstructured(0.5))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]bool{false, true, false, true, false, true}, layer); d != "" {
		t.Errorf("layer-wise mask (-want +got):\n%s", d)
	}
	perOutput, err := Magnitude(l, Unstructured(0.5))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]bool{false, false, false, false, true, true}, perOutput); d != "" {
		t.Errorf("per-output mask (-want +got):\n%s", d)
	}
	// N:M groups lie within an output: both rankings are the same.
	l4 := Layer{Name: "nm", In: 4, Out: 1, W: []float32{1, -3, 2, 0.5}}
	a, err := MagnitudeLayer(l4, NM(2, 4))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Magnitude(l4, NM(2, 4))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(b, a); d != "" {
		t.Errorf("2:4 layer-wise vs per output (-per output +layer):\n%s", d)
	}
	if _, err := MagnitudeLayer(Layer{Name: "bad", In: 2, Out: 1, W: []float32{1}}, Unstructured(0.5)); !errors.Is(err, ErrShape) {
		t.Errorf("short W: err %v, want ErrShape", err)
	}
}
