package quantize_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	_ "github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/prunelab/prunelab/backend"
	"github.com/prunelab/prunelab/models"
	"github.com/prunelab/prunelab/program"
	"github.com/prunelab/prunelab/quantize"
)

func TestNewTensor(t *testing.T) {
	// A [3, 2] matrix: channel 0 is {1, 0, -0.5}, channel 1 is all zero.
	values := []float32{1, 0, 0, 0, -0.5, 0}
	q, err := quantize.NewTensor(values, []int{3, 2}, -1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if q.Axis != 1 || q.Scales[0] != float32(1.0/127) || q.Scales[1] != 0 {
		t.Fatalf("axis %d, scales %v", q.Axis, q.Scales)
	}
	got := q.Dequantize()
	for i, v := range values {
		if math.Abs(float64(got[i]-v)) > float64(q.Scales[0])/2+1e-7 {
			t.Errorf("element %d: %g dequantized to %g", i, v, got[i])
		}
		if v == 0 && got[i] != 0 {
			t.Errorf("zero element %d dequantized to %g", i, got[i])
		}
	}
	if q.Values[0] != 127 || q.Values[4] != -64 {
		t.Errorf("values %v", q.Values)
	}
	// Clipping at half the range saturates the largest weight.
	q, _ = quantize.NewTensor(values, []int{3, 2}, 1, []float64{0.5, 1})
	if q.Values[0] != 127 || q.Values[4] != -127 {
		t.Errorf("clipped values %v", q.Values)
	}
	for _, bad := range []struct {
		dims  []int
		axis  int
		clips []float64
	}{{[]int{3, 3}, 1, nil}, {[]int{3, 2}, 2, nil}, {[]int{3, 2}, 1, []float64{1}}, {[]int{3, 2}, 1, []float64{0, 1}}} {
		if _, err := quantize.NewTensor(values, bad.dims, bad.axis, bad.clips); err == nil {
			t.Errorf("NewTensor(dims %v, axis %d, clips %v) succeeded", bad.dims, bad.axis, bad.clips)
		}
	}
}

func ExampleNewTensor() {
	q, _ := quantize.NewTensor([]float32{0.5, -1, 0, 0.25}, []int{4, 1}, -1, nil)
	fmt.Println(q.Values, q.Scales[0]*127)
	// Output: [64 -127 0 32] 1
}

func TestCalibrateReducesOutputError(t *testing.T) {
	b, err := backend.NewPureGo()
	if err != nil {
		t.Fatal(err)
	}
	m, _ := models.ByName("lenet-300-100")
	ctx := context.New()
	ctx.SetParam(context.ParamInitialSeed, int64(1))
	p, err := program.Trace(b, ctx, m.Build, shapes.Make(dtypes.Float32, m.InputShape...))
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	calib := tensors.FromShape(shapes.Make(dtypes.Float32, 64, 28, 28, 1))
	calib.MutableFlatData(func(flat any) {
		for i := range flat.([]float32) {
			if rng.Float64() < 0.2 {
				flat.([]float32)[i] = rng.Float32()
			}
		}
	})
	if _, err := p.Run(b, ctx, calib); err != nil { // initializes the variables
		t.Fatal(err)
	}
	values, err := p.Values(ctx)
	if err != nil {
		t.Fatal(err)
	}
	values["/fc0/dense/weights"][5] = 3 // an outlier that max-abs scaling pays for
	res, err := quantize.Calibrate(b, p, values, calib, quantize.Config{MaxRows: 256})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Layers) != 3 {
		t.Fatalf("%d layers quantized, want the 3 weight matrices", len(res.Layers))
	}
	for _, l := range res.Layers {
		if !l.Calibrated || l.Rows == 0 {
			t.Errorf("%s not calibrated", l.Path)
		}
		if l.CalibratedMSE > l.MaxAbsMSE {
			t.Errorf("%s: calibrated error %g above max-abs error %g", l.Path, l.CalibratedMSE, l.MaxAbsMSE)
		}
	}
	if fc0 := res.Layers[0]; fc0.MeanClip == 1 {
		t.Errorf("fc0: no channel clipped despite the outlier (report %+v)", fc0)
	}
	deq := res.Dequantized(values)
	for path, w := range values {
		for i, v := range w {
			if v == 0 && deq[path][i] != 0 {
				t.Fatalf("%s[%d]: zero became %g", path, i, deq[path][i])
			}
		}
	}
}
