package models

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// BuildFn builds a model's graph: it takes a batch of inputs (float32, [batch, ...InputShape]) and
// returns logits [batch, NumClasses]. It is graph-building code: it panics on error, like GoMLX layers.
type BuildFn func(ctx *context.Context, x *graph.Node) *graph.Node

// Model describes a registered model.
type Model struct {
	// Name is the registry key, e.g. "lenet-300-100".
	Name string
	// Description is one line: what the model is and where it comes from.
	Description string
	// InputShape is the shape of one example, e.g. [28, 28, 1] for MNIST.
	InputShape []int
	// NumClasses is the number of logits.
	NumClasses int
	// Params is the number of parameters (weights, biases and normalization parameters).
	Params int
	// Weights is the number of parameters in weight matrices and convolution kernels (the prunable ones).
	Weights int
	// Dataset is the dataset the model is made for, e.g. "mnist" or "cifar10".
	Dataset string
	// Build builds the graph.
	Build BuildFn
	// Init, when set, fills a new context with the model's variables before its first build (an
	// imported model's trained weights, see package onnxmodel); nil for the registered models,
	// whose layers create and initialize their own.
	Init func(ctx *context.Context) error `json:"-"`
	// Prunable, when set, lists the paths of the variables to prune, replacing the default rule
	// (variables named "weights", see pruning.Selector).
	Prunable []string `json:"-"`
}

// ErrUnknown is wrapped by [ByName] when no model has the name asked for.
var ErrUnknown = errors.New("unknown model")

var (
	registryMu sync.RWMutex
	registry   = map[string]Model{}
)

// Register adds m to the registry. It returns an error if the name is empty or taken, or if Build is nil.
func Register(m Model) error {
	if m.Name == "" || m.Build == nil {
		return fmt.Errorf("models: Register: model %q needs a name and a Build function", m.Name)
	}
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, taken := registry[m.Name]; taken {
		return fmt.Errorf("models: Register: %q is already registered", m.Name)
	}
	registry[m.Name] = m
	return nil
}

// mustRegister is [Register] for this package's own models, at init time.
func mustRegister(m Model) {
	if err := Register(m); err != nil {
		panic(err)
	}
}

// ByName returns the registered model with that name, or an error listing the known names.
func ByName(name string) (Model, error) {
	registryMu.RLock()
	defer registryMu.RUnlock()
	m, ok := registry[name]
	if !ok {
		return Model{}, fmt.Errorf("models: %w %q (known: %s)", ErrUnknown, name, strings.Join(namesLocked(), ", "))
	}
	return m, nil
}

// Names lists the registered models, sorted.
func Names() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	return namesLocked()
}

func namesLocked() []string {
	names := make([]string, 0, len(registry))
	for name := range registry {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}
