package pruning

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

const (
	// Scope is the absolute context scope that holds everything this package stores in a
	// context. Variables under it are never selected for pruning.
	Scope = "/pruning"

	// MaskScope holds the masks. The mask of the variable "<scope>/<name>" is the variable
	// "<MaskScope><scope>/<name>": e.g. the mask of "/fc0/dense/weights" is
	// "/pruning/masks/fc0/dense/weights". Masks are non-trainable, have the weight's shape and
	// dtype, hold exactly 0 (pruned) or 1 (kept), and travel with checkpoints.
	MaskScope = Scope + "/masks"

	// ParamConvChannelsFirst is the context hyperparameter (bool, default false), read from the
	// root scope, that says convolution kernels are laid out channels-first, [out, in, k...]
	// (layers.Convolution with images.ChannelsFirst). By default they are channels-last,
	// [k..., in, out], GoMLX's default.
	ParamConvChannelsFirst = "pruning_conv_channels_first"

	// ParamLayouts is the context hyperparameter (map[string]Layout, default none), read from the
	// root scope, that gives the layout of variables by path ("/ONNX/fc.weight"), for models whose
	// kernels follow neither GoMLX's scope names nor its layouts (imported ONNX models: Gemm
	// weights are [out, in], Conv kernels [out, in/groups, k...]). A variable listed here is
	// described by its entry instead of the guess from its scope; [SetLayouts] sets it.
	ParamLayouts = "pruning_layouts"
)

// Layout says which axes of a prunable variable are its layer's inputs and outputs (see
// [Target]), for [ParamLayouts].
type Layout struct {
	Kind Kind `json:"kind"`
	In   Axes `json:"in"`
	Out  Axes `json:"out"`
}

// SetLayouts records explicit layouts of variables by path in ctx (ParamLayouts), adding to
// those already set.
func SetLayouts(ctx *context.Context, layouts map[string]Layout) {
	root := ctx.InAbsPath(context.RootScope)
	all := map[string]Layout{}
	if old, ok := root.GetParam(ParamLayouts); ok {
		if m, ok := old.(map[string]Layout); ok {
			maps.Copy(all, m)
		}
	}
	maps.Copy(all, layouts)
	root.SetParam(ParamLayouts, all)
}

// Kind is the type of layer a prunable variable belongs to, as far as pruning is concerned.
type Kind int

const (
	// KindOther is a variable of unknown role: only unstructured pruning applies.
	KindOther Kind = iota
	// KindDense is a dense (fully connected) kernel shaped [in, out...] (layers.Dense).
	KindDense
	// KindConv is a convolution kernel, [k..., in, out] or [out, in, k...] (layers.Convolution).
	KindConv
)

// String returns "other", "dense" or "conv".
func (k Kind) String() string {
	switch k {
	case KindDense:
		return "dense"
	case KindConv:
		return "conv"
	default:
		return "other"
	}
}

// MarshalText implements encoding.TextMarshaler, so a Kind is written as its name in JSON.
func (k Kind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (k *Kind) UnmarshalText(b []byte) error {
	switch string(b) {
	case "dense":
		*k = KindDense
	case "conv":
		*k = KindConv
	case "other":
		*k = KindOther
	default:
		return fmt.Errorf("pruning: unknown layer kind %q", b)
	}
	return nil
}

// Axes is a half-open range [Begin, End) of axes of a variable. An empty range means unknown.
type Axes struct{ Begin, End int }

// Len returns the number of axes in the range.
func (a Axes) Len() int { return a.End - a.Begin }

// Target is one prunable variable: where it lives, its shape and which of its axes are the
// inputs and outputs of its layer (used by structured pruning and FLOP counting).
type Target struct {
	Scope string       `json:"scope"`
	Name  string       `json:"name"`
	Shape []int        `json:"shape"`
	DType dtypes.DType `json:"-"`
	Kind  Kind         `json:"kind"`
	// In and Out are the input-feature and output-unit axes: for a dense kernel [in, out...] In is
	// {0,1} and Out {1,rank}; for a channels-last conv kernel [kh, kw, in, out] In is {2,3} and
	// Out {3,4}. Empty for KindOther.
	In  Axes `json:"in"`
	Out Axes `json:"out"`
}

// Path returns the variable's scope and name joined, e.g. "/fc0/dense/weights": the key used
// for targets in masks, reports and per-layer amounts.
func (t Target) Path() string { return context.JoinScope(t.Scope, t.Name) }

// Size returns the number of weights.
func (t Target) Size() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// dimsProduct returns the product of the dimensions of the axes range.
func (t Target) dimsProduct(a Axes) int {
	n := 1
	for _, d := range t.Shape[a.Begin:a.End] {
		n *= d
	}
	return n
}

// NumOutputs returns the number of output units (dense neurons or conv filters), or 0 if unknown.
func (t Target) NumOutputs() int {
	if t.Out.Len() == 0 {
		return 0
	}
	return t.dimsProduct(t.Out)
}

// NumInputs returns the number of input features (dense) or channels (conv), or 0 if unknown.
func (t Target) NumInputs() int {
	if t.In.Len() == 0 {
		return 0
	}
	return t.dimsProduct(t.In)
}

// lastScopeElement returns the last element of a scope path: "/fc0/dense" -> "dense".
func lastScopeElement(scope string) string {
	if i := strings.LastIndex(scope, context.ScopeSeparator); i >= 0 {
		return scope[i+1:]
	}
	return scope
}

// layoutRules are the context's rules for describing variables: ParamConvChannelsFirst and
// ParamLayouts.
type layoutRules struct {
	channelsFirst bool
	explicit      map[string]Layout
}

// newTarget describes the variable v: by its entry in ParamLayouts, or else guessing its layer
// kind from its scope (layers.Dense uses a "dense" scope, layers.Convolution a "conv" scope) and
// rank.
func newTarget(v *context.Variable, rules layoutRules) Target {
	shape := v.Shape()
	t := Target{
		Scope: v.Scope(),
		Name:  v.Name(),
		Shape: slices.Clone(shape.Dimensions),
		DType: shape.DType,
	}
	if l, ok := rules.explicit[t.Path()]; ok {
		t.Kind, t.In, t.Out = l.Kind, l.In, l.Out
		return t
	}
	rank := len(t.Shape)
	last := lastScopeElement(t.Scope)
	switch {
	case last == "conv" && rank >= 3:
		t.Kind = KindConv
		if rules.channelsFirst {
			t.Out, t.In = Axes{0, 1}, Axes{1, 2}
		} else {
			t.In, t.Out = Axes{rank - 2, rank - 1}, Axes{rank - 1, rank}
		}
	case rank == 2 || (last == "dense" && rank >= 2):
		t.Kind = KindDense
		t.In, t.Out = Axes{0, 1}, Axes{1, rank}
	default:
		t.Kind = KindOther
	}
	return t
}

// Selector chooses which variables of a model get masks. Patterns are matched against the
// variable's full path, scope and name, e.g. "/fc0/dense/weights":
//
//   - a glob: "*" matches any run of characters except "/", "**" any run including "/", "?" one
//     character other than "/"; the whole path must match. E.g. "/fc2/**" or "**/conv/weights".
//   - a regular expression when prefixed with "re:", searched anywhere in the path (anchor it
//     with ^ and $ if you want), e.g. "re:^/block[0-9]+/".
//
// The zero Selector selects the default: variables named "weights" of rank 2 or more, which are
// the kernels of layers.Dense and layers.Convolution and not biases, embeddings or normalization
// parameters. Variables under [Scope] are never selected.
type Selector struct {
	// Include, when non-empty, replaces the default rule: a variable is selected if it matches
	// any of these patterns.
	Include []string
	// Skip lists patterns of variables never to select, applied after Include.
	Skip []string
}

// Exactly selects exactly the variables at the given paths (for models whose weights are not named
// "weights", e.g. imported ONNX models).
func Exactly(paths ...string) Selector {
	sel := Selector{Include: make([]string, len(paths))}
	for i, p := range paths {
		sel.Include[i] = "re:^" + regexp.QuoteMeta(p) + "$"
	}
	return sel
}

// Selects reports whether the variable path (scope and name, e.g. "/fc0/dense/weights") with
// the given rank is selected. It returns an error for a malformed pattern.
func (s Selector) Selects(path string, rank int) (bool, error) {
	if path == Scope || strings.HasPrefix(path, Scope+context.ScopeSeparator) {
		return false, nil
	}
	var selected bool
	if len(s.Include) == 0 {
		_, name := context.SplitScope(path)
		selected = name == "weights" && rank >= 2
	} else {
		m, err := matchAny(s.Include, path)
		if err != nil {
			return false, err
		}
		selected = m
	}
	if !selected {
		return false, nil
	}
	skip, err := matchAny(s.Skip, path)
	if err != nil {
		return false, err
	}
	return !skip, nil
}

// matchAny reports whether path matches any of the patterns.
func matchAny(patterns []string, path string) (bool, error) {
	for _, p := range patterns {
		ok, err := MatchPattern(p, path)
		if err != nil {
			return false, err
		}
		if ok {
			return true, nil
		}
	}
	return false, nil
}

// MatchPattern reports whether a variable path matches a pattern, with the syntax described in
// [Selector]: a glob, or a regular expression prefixed with "re:".
func MatchPattern(pattern, path string) (bool, error) {
	re, err := compilePattern(pattern)
	if err != nil {
		return false, err
	}
	return re.MatchString(path), nil
}

// compilePattern turns a Selector pattern into a regexp.
func compilePattern(pattern string) (*regexp.Regexp, error) {
	if expr, ok := strings.CutPrefix(pattern, "re:"); ok {
		re, err := regexp.Compile(expr)
		if err != nil {
			return nil, fmt.Errorf("pruning: pattern %q: %w", pattern, err)
		}
		return re, nil
	}
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(pattern); i++ {
		c := pattern[i]
		switch {
		case c == '*' && i+1 < len(pattern) && pattern[i+1] == '*':
			b.WriteString(".*")
			i++
		case c == '*':
			b.WriteString("[^/]*")
		case c == '?':
			b.WriteString("[^/]")
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	return regexp.Compile(b.String())
}

// maskLocation returns the scope and name of the mask of the variable at scope/name.
func maskLocation(scope, name string) (string, string) {
	if scope == context.RootScope {
		return MaskScope, name
	}
	return MaskScope + scope, name
}

// weightLocation is the inverse of maskLocation; ok is false if maskScope is not under MaskScope.
func weightLocation(maskScope, name string) (scope, wname string, ok bool) {
	if maskScope == MaskScope {
		return context.RootScope, name, true
	}
	rest, found := strings.CutPrefix(maskScope, MaskScope+context.ScopeSeparator)
	if !found {
		return "", "", false
	}
	return context.ScopeSeparator + rest, name, true
}

// rulesOf reads ParamConvChannelsFirst and ParamLayouts from the root scope of ctx.
func rulesOf(ctx *context.Context) layoutRules {
	root := ctx.InAbsPath(context.RootScope)
	r := layoutRules{channelsFirst: context.GetParamOr(root, ParamConvChannelsFirst, false)}
	if v, ok := root.GetParam(ParamLayouts); ok {
		var isMap bool
		if r.explicit, isMap = v.(map[string]Layout); !isMap {
			// Restored from a checkpoint, params come back as decoded JSON (map[string]any).
			if b, err := json.Marshal(v); err == nil {
				_ = json.Unmarshal(b, &r.explicit)
			}
		}
	}
	return r
}

// Targets lists the masked variables of ctx, in path order ([ComparePaths]). A variable is
// masked once a graph was built with [WrapModelFn] (or [AttachMasksGraph]) or after
// [AttachMasks].
func Targets(ctx *context.Context) []Target {
	rules := rulesOf(ctx)
	var masks []*context.Variable
	for v := range ctx.IterVariables() {
		if _, _, ok := weightLocation(v.Scope(), v.Name()); ok {
			masks = append(masks, v)
		}
	}
	byPath := make(map[string]bool, len(masks))
	for _, m := range masks {
		s, n, _ := weightLocation(m.Scope(), m.Name())
		byPath[context.JoinScope(s, n)] = true
	}
	var targets []Target
	for v := range ctx.IterVariables() {
		if byPath[v.ScopeAndName()] {
			targets = append(targets, newTarget(v, rules))
		}
	}
	sortTargets(targets)
	return targets
}

// sortTargets sorts targets by path in natural order.
func sortTargets(targets []Target) {
	slices.SortFunc(targets, func(a, b Target) int { return ComparePaths(a.Path(), b.Path()) })
}

// ComparePaths orders variable paths naturally: runs of digits compare as numbers, so
// "/fc2/dense/weights" comes before "/fc10/dense/weights"; otherwise byte by byte. Targets,
// reports and global rankings list variables in this order, which does not depend on the order
// variables were created or restored from a checkpoint (GoMLX restores them in map order).
func ComparePaths(a, b string) int {
	for a != "" && b != "" {
		da, db := digitRun(a), digitRun(b)
		if da > 0 && db > 0 {
			na, nb := strings.TrimLeft(a[:da], "0"), strings.TrimLeft(b[:db], "0")
			if c := cmp.Compare(len(na), len(nb)); c != 0 {
				return c
			}
			if c := strings.Compare(na, nb); c != 0 {
				return c
			}
			if c := cmp.Compare(da, db); c != 0 { // "01" after "1"
				return c
			}
			a, b = a[da:], b[db:]
			continue
		}
		if a[0] != b[0] {
			return cmp.Compare(a[0], b[0])
		}
		a, b = a[1:], b[1:]
	}
	return cmp.Compare(len(a), len(b))
}

// digitRun returns the length of the run of ASCII digits at the start of s.
func digitRun(s string) int {
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	return n
}

// SelectTargets lists the variables of ctx that sel selects, whether or not they have masks.
func SelectTargets(ctx *context.Context, sel Selector) ([]Target, error) {
	rules := rulesOf(ctx)
	var targets []Target
	for v := range ctx.IterVariables() {
		ok, err := sel.Selects(v.ScopeAndName(), v.Shape().Rank())
		if err != nil {
			return nil, err
		}
		if ok {
			targets = append(targets, newTarget(v, rules))
		}
	}
	sortTargets(targets)
	return targets, nil
}
