package viz_test

import (
	"fmt"
	"math"

	"github.com/prunelab/prunelab/viz"
)

// Deterministic synthetic data shared by the examples and the golden-image
// tests. A private generator (SplitMix64) keeps the data identical across
// Go releases.

type rng struct{ state uint64 }

func (r *rng) uint64() uint64 {
	r.state += 0x9E3779B97F4A7C15
	z := r.state
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

// float returns a uniform value in [0, 1).
func (r *rng) float() float64 { return float64(r.uint64()>>11) / (1 << 53) }

// normal returns a standard normal value (Box–Muller).
func (r *rng) normal() float64 {
	u := 1 - r.float()
	return math.Sqrt(-2*math.Log(u)) * math.Cos(2*math.Pi*r.float())
}

// mnistLayer is a LeNet-300-100 first layer (784×300) after pruning: each
// input pixel keeps its outgoing weights with a probability that falls with
// the distance from the image centre, as lottery tickets on MNIST do.
func mnistLayer() viz.Layer {
	const in, out = 784, 300
	r := &rng{state: 1}
	l := viz.Layer{Name: "fc1", Shape: []int{in, out}, Kept: make([]bool, in*out), Weights: make([]float32, in*out)}
	for i := range in {
		y, x := float64(i/28)-13.5, float64(i%28)-13.5
		p := 0.02 + 0.5*math.Exp(-(x*x+y*y)/(2*6.5*6.5))
		for o := range out {
			k := i*out + o
			l.Kept[k] = r.float() < p
			l.Weights[k] = float32(0.05 * r.normal())
			if l.Kept[k] {
				l.Weights[k] += float32(math.Copysign(0.03, float64(l.Weights[k])))
			}
		}
	}
	return l
}

// denseLayer is an in×out layer keeping each weight with probability p.
func denseLayer(name string, in, out int, p float64, seed uint64) viz.Layer {
	r := &rng{state: seed}
	l := viz.Layer{Name: name, Shape: []int{in, out}, Kept: make([]bool, in*out)}
	for k := range l.Kept {
		l.Kept[k] = r.float() < p
	}
	return l
}

// convLayer is a [kh, kw, in, out] kernel where a few filters are pruned
// away almost entirely and the rest keep about half their weights.
func convLayer(name string, kh, kw, in, out int, seed uint64) viz.Layer {
	r := &rng{state: seed}
	l := viz.Layer{Name: name, Shape: []int{kh, kw, in, out}, Kept: make([]bool, kh*kw*in*out)}
	for k := range l.Kept {
		o := k % out
		c := (k / out) % in
		p := 0.55
		if o%5 == 2 {
			p = 0.05
		}
		if c%7 == 3 {
			p *= 0.4
		}
		l.Kept[k] = r.float() < p
	}
	return l
}

// modelLayers are the layers of a small model with a convolution.
func modelLayers() []viz.Layer {
	return []viz.Layer{
		convLayer("conv1", 3, 3, 16, 32, 7),
		mnistLayer(),
		denseLayer("fc2", 300, 100, 0.3, 3),
		denseLayer("fc3", 100, 10, 0.6, 4),
	}
}

// lotteryLevels are the percentages of weights remaining in LeNet-300-100
// after k rounds pruning 20% of the hidden layers and 10% of the output
// layer (266,200 weights in all), as in the Lottery Ticket paper.
func lotteryLevels(rounds int) []float64 {
	x := make([]float64, rounds+1)
	for k := range x {
		kept := 265200*math.Pow(0.8, float64(k)) + 1000*math.Pow(0.9, float64(k))
		x[k] = 100 * kept / 266200
	}
	return x
}

// replicates returns n noisy replicates of f at x.
func replicates(x []float64, n int, noise float64, seed uint64, f func(x float64) float64) [][]float64 {
	r := &rng{state: seed}
	y := make([][]float64, n)
	for i := range y {
		y[i] = make([]float64, len(x))
		for j, xj := range x {
			y[i][j] = f(xj) + noise*r.normal()
		}
	}
	return y
}

// lotterySeries are accuracy-vs-weights-remaining curves of a winning
// ticket, its random re-initialisation and random pruning, 5 replicates.
func lotterySeries() []viz.Series {
	x := lotteryLevels(18)
	lx := func(v float64) float64 { return math.Log10(100 / v) } // 0 dense … 1.7 at 2%
	return []viz.Series{
		{Name: "winning ticket", X: x, Y: replicates(x, 5, 0.08, 11, func(v float64) float64 {
			return 98.0 + 0.9*lx(v)*math.Exp(-lx(v)) - 0.9*math.Pow(math.Max(lx(v)-1.1, 0), 2)*3
		})},
		{Name: "random reinit", X: x, Y: replicates(x, 5, 0.12, 12, func(v float64) float64 {
			return 98.0 - 0.25*lx(v) - 2.2*math.Pow(math.Max(lx(v)-0.6, 0), 2)
		})},
		{Name: "random pruning", X: x, Y: replicates(x, 5, 0.15, 13, func(v float64) float64 {
			return 98.0 - 0.6*lx(v) - 3.5*math.Pow(math.Max(lx(v)-0.5, 0), 2)
		})},
	}
}

// earlyStopSeries are early-stopping iterations against weights remaining.
func earlyStopSeries() []viz.Series {
	x := lotteryLevels(18)
	lx := func(v float64) float64 { return math.Log10(100 / v) }
	return []viz.Series{
		{Name: "winning ticket", X: x, Y: replicates(x, 5, 400, 21, func(v float64) float64 {
			return 11000 - 9000*lx(v)*math.Exp(-lx(v)) + 4000*math.Pow(math.Max(lx(v)-1.2, 0), 2)*4
		})},
		{Name: "random reinit", X: x, Y: replicates(x, 5, 600, 22, func(v float64) float64 {
			return 11000 + 3000*lx(v) + 9000*math.Pow(lx(v), 2)
		})},
	}
}

// sensitivitySeries are accuracy-vs-sparsity curves for three layers.
func sensitivitySeries() []viz.Series {
	x := make([]float64, 20)
	for i := range x {
		x[i] = 5 * float64(i)
	}
	drop := func(at, scale float64) func(float64) float64 {
		return func(s float64) float64 { return 98.2 - scale*math.Pow(math.Max(s-at, 0)/(100-at), 2) }
	}
	return []viz.Series{
		{Name: "fc1", X: x, Y: replicates(x, 1, 0.05, 31, drop(70, 30))},
		{Name: "fc2", X: x, Y: replicates(x, 1, 0.05, 32, drop(50, 25))},
		{Name: "fc3", X: x, Y: replicates(x, 1, 0.05, 33, drop(20, 40))},
	}
}

// trainingSeries are train and test loss over 3000 steps, 3 replicates.
func trainingSeries() []viz.Series {
	x := make([]float64, 61)
	for i := range x {
		x[i] = 50 * float64(i)
	}
	return []viz.Series{
		{Name: "train loss", X: x, Y: replicates(x, 3, 0.01, 41, func(s float64) float64 { return 0.03 + 2.2*math.Exp(-s/300) })},
		{Name: "test loss", X: x, Y: replicates(x, 3, 0.008, 42, func(s float64) float64 {
			return 0.07 + 2.2*math.Exp(-s/320) + 0.00001*s
		})},
	}
}

// weightSamples are a layer's weights before and after pruning the 80%
// smallest magnitudes.
func weightSamples() []viz.Sample {
	r := &rng{state: 51}
	before := make([]float32, 30000)
	for i := range before {
		before[i] = float32(0.05 * r.normal())
	}
	after := make([]float32, len(before))
	for i, w := range before {
		if math.Abs(float64(w)) > 0.0641 { // about the 80th percentile of |w|
			after[i] = w * 1.15
		}
	}
	return []viz.Sample{{Name: "before pruning", Values: before}, {Name: "after pruning", Values: after}}
}

// layerCounts are per-layer counts of a pruned LeNet-300-100.
func layerCounts() []viz.LayerCount {
	return []viz.LayerCount{
		{Name: "fc1", Kept: 49637, Total: 235200},
		{Name: "fc2", Kept: 6330, Total: 30000},
		{Name: "fc3", Kept: 478, Total: 1000},
	}
}

// speedupBars are the theoretical and measured speedups of compacted
// models (the shape of BENCHMARKS.md's compaction table).
func speedupBars() ([]string, []viz.BarSeries) {
	categories := []string{"LeNet-300-100\n50%", "LeNet-300-100\n70%", "LeNet-5\n50%"}
	values := [][]float64{{2.12, 3.62, 3.11}, {2.22, 3.53, 1.67}, {2.36, 3.84, 1.55}}
	var series []viz.BarSeries
	for i, name := range []string{"theoretical (MACs)", "measured, batch 1", "measured, batch 256"} {
		s := viz.BarSeries{Name: name, Values: values[i]}
		for _, v := range values[i] {
			s.Labels = append(s.Labels, fmt.Sprintf("%.1f×", v))
		}
		series = append(series, s)
	}
	return categories, series
}

// perplexitySeries are a language model's perplexities against sparsity
// for three one-shot methods over 3 calibration seeds (magnitude reads no
// calibration data: no spread), and SparseGPT at 2:4 as a single point.
func perplexitySeries() []viz.Series {
	x := []float64{0, 30, 50, 70}
	curve := func(scale float64) func(float64) float64 {
		return func(s float64) float64 { return 14 * math.Exp(scale*math.Pow(s/100, 3)) }
	}
	return []viz.Series{
		{Name: "magnitude", X: x, Y: replicates(x, 3, 0, 51, curve(1.2))},
		{Name: "wanda", X: x, Y: replicates(x, 3, 0.15, 52, curve(1.1))},
		{Name: "sparsegpt", X: x, Y: replicates(x, 3, 0.1, 53, curve(0.6))},
		{Name: "sparsegpt 2:4", X: []float64{50}, Y: replicates([]float64{50}, 3, 0.1, 54, func(float64) float64 { return 15.6 })},
	}
}
