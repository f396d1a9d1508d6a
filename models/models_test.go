package models

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/prunelab/prunelab/backend"

	_ "github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// countParams builds m once on a zero batch of two examples and counts its variables' elements:
// all of them, and the weights that pruning selects by default (variables named "weights" of rank >= 2:
// dense and convolution kernels, not embeddings). It also returns the logits shape.
func countParams(t *testing.T, m Model) (params, weights int, logits []int) {
	t.Helper()
	b, err := backend.NewPureGo()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Finalize()
	ctx := context.New()
	ctx.SetParam(context.ParamInitialSeed, int64(1))
	dims := append([]int{2}, m.InputShape...)
	exec, err := context.NewExec(b, ctx, func(ctx *context.Context, x *graph.Node) *graph.Node {
		return m.Build(ctx, x)
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Exec(tensors.FromShape(shapesOf(dims)))
	if err != nil {
		t.Fatalf("%s: %v", m.Name, err)
	}
	for v := range ctx.IterVariables() {
		if !v.Trainable {
			continue
		}
		n := v.Shape().Size()
		params += n
		if v.Name() == "weights" && v.Shape().Rank() >= 2 {
			weights += n
		}
	}
	return params, weights, out[0].Shape().Dimensions
}

func TestRegisteredModelsMatchTheirDocs(t *testing.T) {
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			m, err := ByName(name)
			if err != nil {
				t.Fatal(err)
			}
			params, weights, logits := countParams(t, m)
			if params != m.Params || weights != m.Weights {
				t.Errorf("%s: built %d params (%d weights), documented %d (%d)", name, params, weights, m.Params, m.Weights)
			}
			if fmt.Sprint(logits) != fmt.Sprint([]int{2, m.NumClasses}) {
				t.Errorf("%s: logits shape %v, want [2 %d]", name, logits, m.NumClasses)
			}
		})
	}
}

func TestLeNet300100Counts(t *testing.T) {
	m, err := ByName("lenet-300-100")
	if err != nil {
		t.Fatal(err)
	}
	// The paper's numbers: 784·300 + 300·100 + 100·10 = 266,200 weights, plus 410 biases.
	if m.Weights != 784*300+300*100+100*10 || m.Params != m.Weights+300+100+10 {
		t.Errorf("lenet-300-100 documented as %d params / %d weights", m.Params, m.Weights)
	}
}

func TestByNameUnknownListsKnown(t *testing.T) {
	_, err := ByName("lenet-5000")
	if !errors.Is(err, ErrUnknown) || !strings.Contains(err.Error(), "lenet-300-100") {
		t.Errorf("ByName(unknown) error = %v, want ErrUnknown listing lenet-300-100", err)
	}
}

func TestRegisterRejectsDuplicatesAndEmpty(t *testing.T) {
	if err := Register(Model{Name: "lenet-300-100", Build: LeNet300100}); err == nil {
		t.Error("Register(duplicate) succeeded")
	}
	if err := Register(Model{Name: "no-build"}); err == nil {
		t.Error("Register(nil Build) succeeded")
	}
}

func ExampleByName() {
	m, err := ByName("lenet-300-100")
	if err != nil {
		panic(err)
	}
	fmt.Printf("%s: input %v, %d classes, %d parameters (%d weights)\n", m.Name, m.InputShape, m.NumClasses, m.Params, m.Weights)
	// Output: lenet-300-100: input [28 28 1], 10 classes, 266610 parameters (266200 weights)
}

func shapesOf(dims []int) shapes.Shape { return shapes.Make(dtypes.Float32, dims...) }
