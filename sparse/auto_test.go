package sparse

import (
	"errors"
	"testing"
	"time"
)

func TestMedianTimes(t *testing.T) {
	calls := make([]int, 2)
	runner := func(i int, d time.Duration) Runner {
		return RunnerFunc(func(x []float32, batch int) ([]float32, error) {
			calls[i]++
			time.Sleep(d)
			return x, nil
		})
	}
	medians, err := MedianTimes([]float32{1}, 1, 0, runner(0, 0), runner(1, 2*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if calls[0] != 6 || calls[1] != 6 || medians[1] < 2*time.Millisecond || medians[0] >= medians[1] {
		t.Errorf("calls %v, medians %v: want 1 warm-up and 5 timed runs each, the sleeping one slower", calls, medians)
	}
	boom := errors.New("boom")
	if _, err := MedianTimes(nil, 1, 0, RunnerFunc(func([]float32, int) ([]float32, error) { return nil, boom })); !errors.Is(err, boom) {
		t.Errorf("error %v, want the runner's", err)
	}
}
