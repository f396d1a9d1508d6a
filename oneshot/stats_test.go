package oneshot

import (
	"math"
	"testing"
)

func TestStats(t *testing.T) {
	const in, rows = 12, 40
	f := newFixture(t, 11, in, 4, rows)
	// Accumulated in uneven batches and merged, the statistics equal one pass over all rows.
	a, b := NewStats(in), NewStats(in)
	for _, batch := range [][2]int{{0, 7}, {7, 8}, {8, 25}} {
		if err := a.Add(f.x[batch[0]*in:batch[1]*in], batch[1]-batch[0]); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Add(f.x[25*in:], rows-25); err != nil {
		t.Fatal(err)
	}
	if err := b.Add(nil, 0); err != nil {
		t.Fatal(err)
	}
	if err := a.Merge(b); err != nil {
		t.Fatal(err)
	}
	if a.Rows() != rows || a.In() != in {
		t.Fatalf("Rows() = %d, In() = %d, want %d, %d", a.Rows(), a.In(), rows, in)
	}
	g, h, norms := a.Gram(), a.Hessian(), a.ColumnNorms()
	for i := range in {
		for k := range in {
			var want float64
			for r := range rows {
				want += float64(f.x[r*in+i]) * float64(f.x[r*in+k])
			}
			if got := g.At(i, k); math.Abs(got-want) > 1e-12*math.Abs(g.At(i, i)+g.At(k, k)) {
				t.Fatalf("Gram[%d][%d] = %g, want %g", i, k, got, want)
			}
			if got := h.At(i, k); math.Abs(got-2*want/rows) > 1e-12*math.Abs(h.At(i, i)+h.At(k, k)) {
				t.Fatalf("Hessian[%d][%d] = %g, want 2·%g/%d", i, k, got, want, rows)
			}
			if i == k {
				if got := norms[i]; math.Abs(got-math.Sqrt(want)) > 1e-12*got {
					t.Fatalf("ColumnNorms[%d] = %g, want %g", i, got, math.Sqrt(want))
				}
			}
		}
	}
}

func TestStatsAddLarge(t *testing.T) {
	// More rows than one conversion chunk.
	const in, rows = 3, 2*addChunk + 17
	x := make([]float32, rows*in)
	for k := range x {
		x[k] = float32(k%7) - 3
	}
	s := NewStats(in)
	if err := s.Add(x, rows); err != nil {
		t.Fatal(err)
	}
	var want float64
	for r := range rows {
		want += float64(x[r*in]) * float64(x[r*in+2])
	}
	if got := s.Gram().At(0, 2); got != want { // small integers: exact
		t.Fatalf("Gram[0][2] = %g, want %g", got, want)
	}
}

func TestNewStatsPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("NewStats(0) did not panic")
		}
	}()
	NewStats(0)
}

func TestStatsOutlierRatio(t *testing.T) {
	// Input norms over the two rows: 5, 1, 2, 50 (sorted 1, 2, 5, 50; median 3.5).
	s := NewStats(4)
	if got := s.OutlierRatio(); got != 0 {
		t.Errorf("no rows: OutlierRatio %g, want 0", got)
	}
	if err := s.Add([]float32{3, 1, 0, 30, 4, 0, 2, 40}, 2); err != nil {
		t.Fatal(err)
	}
	if got, want := s.OutlierRatio(), 50/3.5; math.Abs(got-want) > 1e-12 {
		t.Errorf("OutlierRatio %g, want %g", got, want)
	}
	z := NewStats(3) // two inputs always zero: median 0
	if err := z.Add([]float32{0, 1, 0}, 1); err != nil {
		t.Fatal(err)
	}
	if got := z.OutlierRatio(); got != 0 {
		t.Errorf("median norm 0: OutlierRatio %g, want 0", got)
	}
}
