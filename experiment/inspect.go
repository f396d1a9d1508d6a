package experiment

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"text/tabwriter"

	"github.com/prunelab/prunelab/backend"
	"github.com/prunelab/prunelab/compact"
	"github.com/prunelab/prunelab/datasets"
	"github.com/prunelab/prunelab/export"
	"github.com/prunelab/prunelab/models"
)

// InspectOptions are the settings of [Inspect]. The zero value evaluates the model on its whole
// test set, found from the file's metadata.
type InspectOptions struct {
	// Dataset overrides the data set the model is evaluated on (default: the file's "dataset"
	// metadata, else its model's own data set); DataDir holds the files.
	Dataset, DataDir string
	// TestLimit > 0 evaluates on the first that many test images only.
	TestLimit int
	// SkipEval only reads and describes the file.
	SkipEval bool
}

// Inspection describes a model file: what it holds, how it is stored, and how well it does.
type Inspection struct {
	Path string
	// Model is the file as read (its checksum verified by [export.Read]).
	Model *export.Model
	// Params is the number of parameters, NonZero how many of them are not zero; MACs the
	// multiply-accumulates per example.
	Params, NonZero int
	MACs            int64
	// Dataset is what the model was evaluated on ("" when not evaluated), Accuracy the fraction of
	// test images it classifies right, TestImages how many.
	Dataset    string
	Accuracy   float64
	TestImages int
}

// Inspect reads a model file in Prunelab's export format (docs/FORMAT.md; written by [Export],
// [Compact] or export.Write), checks its SHA-256, describes its variables and evaluates it on the
// test set of its data set. A truncated, tampered or foreign file gets the reader's error (naming
// the file), wrapping [export.ErrFormat] or [export.ErrChecksum].
func Inspect(path string, o InspectOptions) (*Inspection, error) {
	m, err := ReadModel(path)
	if err != nil {
		return nil, err
	}
	in := &Inspection{Path: path, Model: m, MACs: compact.MACs(m.Program)}
	for _, t := range m.Stats.Tensors {
		in.Params += t.Elements
		in.NonZero += t.NonZero
	}
	if o.SkipEval {
		return in, nil
	}
	if m.Meta["kind"] == lmKind {
		return nil, badOptionsf("%s holds a language model (%s): inspect -no-eval describes it; "+
			"experiment.ReadLanguageModel reads it and LanguageModel.Evaluate measures its perplexity", path, m.Meta["model"])
	}
	dataset := o.Dataset
	if dataset == "" {
		dataset = m.Meta["dataset"]
	}
	if dataset == "" {
		mm, err := models.ByName(m.Meta["model"])
		if err != nil {
			return nil, badOptionsf("%s: the file names no data set (metadata %v): give one", path, m.Meta)
		}
		dataset = mm.Dataset
	}
	split, err := LoadData(DataOptions{Dataset: dataset, Dir: o.DataDir, TestLimit: o.TestLimit})
	if err != nil {
		return nil, err
	}
	if got, want := m.Program.InputDims(), []int{split.Test.Height, split.Test.Width, split.Test.Channels}; fmt.Sprint(got) != fmt.Sprint(want) {
		return nil, badOptionsf("%s: the model takes inputs %v, data set %s has images %v", path, got, dataset, want)
	}
	b, err := backend.Default()
	if err != nil {
		return nil, err
	}
	in.Dataset, in.TestImages = dataset, split.Test.N
	in.Accuracy, err = ProgramAccuracy(b, m.Program, m.Values, split.Test, datasets.Normalization{})
	return in, err
}

// WriteSummary prints the file's metadata, its variables (shape, non-zeros, encoding), sizes and
// accuracy.
func (in *Inspection) WriteSummary(w io.Writer) {
	m := in.Model
	fmt.Fprintf(w, "%s: Prunelab model file, %d bytes, SHA-256 verified\n", in.Path, m.Stats.FileBytes)
	for _, k := range sortedKeys(m.Meta) {
		fmt.Fprintf(w, "  %-22s %s\n", k, m.Meta[k])
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\nvariable\tshape\tnon-zero\tsparsity\tstored as")
	for _, t := range m.Stats.Tensors {
		shape := ""
		if v := m.Program.Variable(t.Path); v != nil {
			shape = fmt.Sprint(v.Dims)
		}
		sparsity := 0.0
		if t.Elements > 0 {
			sparsity = 1 - float64(t.NonZero)/float64(t.Elements)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d of %d\t%.1f%%\t%s %s\n", t.Path, shape, t.NonZero, t.Elements, 100*sparsity,
			t.Encoding, t.Index)
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "parameters %d, non-zero %d (%.2f%% sparse); %d MACs per example; %.1fx smaller than float32\n",
		in.Params, in.NonZero, 100*(1-float64(in.NonZero)/float64(max(in.Params, 1))), in.MACs,
		float64(4*in.Params)/float64(m.Stats.FileBytes))
	if in.Dataset != "" {
		fmt.Fprintf(w, "test accuracy on %s: %.2f%% (%d images)\n", in.Dataset, 100*in.Accuracy, in.TestImages)
	}
}

func sortedKeys[M ~map[string]V, V any](m M) []string { return slices.Sorted(maps.Keys(m)) }
