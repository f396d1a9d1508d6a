package pruning

import (
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestSchedules(t *testing.T) {
	tests := []struct {
		name     string
		s        Schedule
		steps    []int
		sparsity []float64
		updates  []int // update steps in [0, 20]
	}{
		{"one shot", OneShot{Step: 5, Sparsity: 0.8}, []int{0, 4, 5, 6, 100}, []float64{0, 0, 0.8, 0.8, 0.8}, []int{5}},
		{"one shot at 0", OneShot{Sparsity: 0.5}, []int{0, 1}, []float64{0.5, 0.5}, []int{0}},
		{"iterative", Iterative{Start: 2, Every: 5, Cycles: 3, Rate: 0.5}, []int{0, 2, 6, 7, 12, 17, 100},
			[]float64{0, 0.5, 0.5, 0.75, 0.875, 0.875, 0.875}, []int{2, 7, 12}},
		{"iterative to 0.936", NewIterative(0, 10, 3, 1-0.4*0.4*0.4), []int{0, 10, 20},
			[]float64{0.6, 0.84, 0.936}, []int{0, 10, 20}},
		// s_t = 0.8·(1 − (1 − p)^3), p = (t−4)/12, updates at 4, 8, 12, 16.
		{"polynomial", Polynomial{Final: 0.8, Begin: 4, End: 16, Frequency: 4}, []int{0, 3, 4, 7, 8, 12, 15, 16, 30},
			[]float64{0, 0, 0, 0, 0.8 * (1 - 8.0/27), 0.8 * (1 - 1.0/27), 0.8 * (1 - 1.0/27), 0.8, 0.8},
			[]int{4, 8, 12, 16}},
		{"polynomial end off grid", Polynomial{Initial: 0.1, Final: 0.5, Begin: 0, End: 10, Frequency: 4, Power: 1},
			[]int{0, 4, 8, 9, 10}, []float64{0.1, 0.26, 0.42, 0.42, 0.5}, []int{0, 4, 8, 10}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []float64
			for _, step := range tc.steps {
				got = append(got, tc.s.SparsityAt(step))
			}
			if diff := cmp.Diff(tc.sparsity, got, cmpopts.EquateApprox(0, 1e-12)); diff != "" {
				t.Errorf("SparsityAt (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.updates, UpdateSteps(tc.s, 0, 20)); diff != "" {
				t.Errorf("update steps (-want +got):\n%s", diff)
			}
		})
	}
	if err := (Polynomial{Final: 1.2, End: 1}).Validate(); err == nil {
		t.Error("Polynomial.Validate accepted Final 1.2")
	}
	if r := NewIterative(0, 1, 5, 0.8).Rate; math.Abs(math.Pow(1-r, 5)-0.2) > 1e-12 {
		t.Errorf("NewIterative rate %g does not leave 20%% after 5 cycles", r)
	}
}
