package distill_test

import (
	"math"
	"math/rand/v2"
	"os"
	"testing"

	_ "github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/prunelab/prunelab/backend"
	"github.com/prunelab/prunelab/datasets"
	"github.com/prunelab/prunelab/distill"
	"github.com/prunelab/prunelab/models"
	"github.com/prunelab/prunelab/pruning"
	"github.com/prunelab/prunelab/training"
)

func TestMain(m *testing.M) {
	if os.Getenv(backend.EnvBackend) == "" {
		os.Setenv(backend.EnvBackend, backend.PureGo)
	}
	os.Exit(m.Run())
}

// TestLossGraph checks the loss against a direct computation of Hinton et al.'s formula.
func TestLossGraph(t *testing.T) {
	b, err := backend.NewPureGo()
	if err != nil {
		t.Fatal(err)
	}
	student := [][]float32{{1, 2, 0.5}, {-1, 0, 3}}
	teacher := [][]float32{{2, 1, 0}, {0, 0, 4}}
	labels := [][]int32{{1}, {2}}
	const temp, alpha = 2.0, 0.7
	exec := graph.MustNewExec(b, func(s, te, l *graph.Node) *graph.Node {
		return distill.LossGraph(s, te, l, distill.Config{Temperature: temp, Alpha: alpha})
	})
	got := exec.MustExec(student, teacher, labels)[0].Value().(float32)

	softmax := func(z []float32, temp float64) []float64 {
		out, sum := make([]float64, len(z)), 0.0
		for i, v := range z {
			out[i] = math.Exp(float64(v) / temp)
			sum += out[i]
		}
		for i := range out {
			out[i] /= sum
		}
		return out
	}
	want := 0.0
	for i := range student {
		ps, pt := softmax(student[i], temp), softmax(teacher[i], temp)
		kl := 0.0
		for k := range ps {
			kl += pt[k] * math.Log(pt[k]/ps[k])
		}
		ce := -math.Log(softmax(student[i], 1)[labels[i][0]])
		want += (alpha*temp*temp*kl + (1-alpha)*ce) / float64(len(student))
	}
	if math.Abs(float64(got)-want) > 1e-5 {
		t.Errorf("loss = %g, want %g", got, want)
	}
}

// syntheticImages: MNIST-shaped images whose label is the row of a bright bar.
func syntheticImages(n int, seed uint64) *datasets.Images {
	rng := rand.New(rand.NewPCG(seed, 1))
	im := &datasets.Images{Name: "bars", N: n, Height: 28, Width: 28, Channels: 1, NumClasses: 10,
		Pixels: make([]uint8, n*784), Labels: make([]uint8, n)}
	for i := range n {
		label := rng.IntN(10)
		im.Labels[i] = uint8(label)
		img := im.Image(i)
		for j := range img {
			img[j] = uint8(rng.IntN(40))
		}
		for x := 2; x < 26; x++ {
			img[(2+2*label)*28+x] = 255
		}
	}
	return im
}

func TestFineTuneKeepsMasksAndLearns(t *testing.T) {
	train, test := syntheticImages(600, 1), syntheticImages(200, 2)
	m, _ := models.ByName("lenet-300-100")
	sess, err := training.NewSession(training.Config{Model: m, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.SetTrainData(train); err != nil {
		t.Fatal(err)
	}
	if _, err := sess.Train(training.Length{Steps: 30}); err != nil {
		t.Fatal(err)
	}
	teacher, err := distill.Logits(sess.Backend(), sess.Context(), m.Build, train, sess.Config().Normalization, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(teacher) != 600*10 {
		t.Fatalf("%d teacher logits", len(teacher))
	}
	masked := models.BuildFn(pruning.WrapModelFn(pruning.ModelFn(m.Build), pruning.Selector{}))
	sess.SetModel(masked)
	if _, err := sess.Evaluate(test); err != nil {
		t.Fatal(err)
	}
	if _, err := pruning.PruneOnce(sess.Context(), pruning.Config{}, pruning.Sparsity(0.9)); err != nil {
		t.Fatal(err)
	}
	if _, err := distill.FineTune(sess, masked, train, teacher, training.Length{Steps: 30}, distill.Config{}); err != nil {
		t.Fatal(err)
	}
	metrics, err := sess.Evaluate(test)
	if err != nil {
		t.Fatal(err)
	}
	if metrics.Accuracy < 0.9 {
		t.Errorf("distilled student accuracy %.2f on an easy task", metrics.Accuracy)
	}
	// Pruned weights stayed zero.
	masks, err := pruning.GetMasks(sess.Context())
	if err != nil {
		t.Fatal(err)
	}
	for path, mask := range masks {
		v := sess.Context().GetVariableByScopeAndName(pathScope(path))
		w := tensors.MustCopyFlatData[float32](v.MustValue())
		for i, keep := range mask.Keep {
			if !keep && w[i] != 0 {
				t.Fatalf("%s[%d] = %g after distillation, but it is pruned", path, i, w[i])
			}
		}
	}
}

func pathScope(path string) (string, string) {
	for i := len(path) - 1; i >= 0; i-- {
		if path[i] == '/' {
			return path[:i], path[i+1:]
		}
	}
	return "", path
}

func TestBatchesCarryTeacherLogits(t *testing.T) {
	im := syntheticImages(10, 3)
	logits := make([]float32, 10*10)
	for i := range logits {
		logits[i] = float32(i)
	}
	b, err := distill.NewBatches(im, logits, 4, 1, datasets.Normalization{})
	if err != nil {
		t.Fatal(err)
	}
	order := datasets.EpochOrder(10, 1, 0)
	_, inputs, labels, err := b.Yield()
	if err != nil {
		t.Fatal(err)
	}
	y := tensors.MustCopyFlatData[int32](labels[0])
	te := tensors.MustCopyFlatData[float32](labels[1])
	for i := range 4 {
		if int(y[i]) != int(im.Labels[order[i]]) || te[i*10] != float32(order[i]*10) {
			t.Errorf("example %d: label %d teacher %g, want image %d", i, y[i], te[i*10], order[i])
		}
	}
	if got := inputs[0].Shape().Dimensions; len(got) != 4 || got[0] != 4 {
		t.Errorf("inputs shaped %v", got)
	}
	if _, err := distill.NewBatches(im, logits[:7], 4, 1, datasets.Normalization{}); err == nil {
		t.Error("NewBatches with 7 logits for 10 images succeeded")
	}
}
