package export

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/prunelab/prunelab/program"
	"github.com/prunelab/prunelab/quantize"
)

// SizeRow is the size of one way of storing a model.
type SizeRow struct {
	Name  string `json:"name"`
	Bytes int    `json:"bytes"`
	// Ratio is DenseFloat32 / Bytes: how many times smaller than the float32 model.
	Ratio float64 `json:"ratio"`
}

// SizeReport compares ways of storing a model: the float32 parameters alone (4 bytes each), the
// export file with dense float32 tensors, sparse float32 tensors (uncompressed and DEFLATE
// compressed), and sparse INT8 tensors (when quantized ones are given).
type SizeReport struct {
	Params       int       `json:"params"`
	NonZero      int       `json:"nonzero"`
	DenseFloat32 int       `json:"dense_float32_bytes"`
	Rows         []SizeRow `json:"rows"`
}

// Sizes writes the model in each way to io.Discard and reports the sizes; quantized may be nil.
func Sizes(p *program.Program, values map[string][]float32, quantized map[string]*quantize.Tensor) (*SizeReport, error) {
	r := &SizeReport{}
	add := func(name string, opts Options) (*Stats, error) {
		st, err := Write(io.Discard, p, values, opts)
		if err != nil {
			return nil, fmt.Errorf("export: sizes (%s): %w", name, err)
		}
		r.Rows = append(r.Rows, SizeRow{Name: name, Bytes: st.FileBytes})
		return st, nil
	}
	st, err := add("file, dense float32, uncompressed", Options{Dense: true, NoCompression: true})
	if err != nil {
		return nil, err
	}
	r.Params, r.DenseFloat32 = st.Params, st.DenseBytes
	for _, t := range st.Tensors {
		r.NonZero += t.NonZero
	}
	if _, err := add("file, sparse float32, uncompressed", Options{NoCompression: true}); err != nil {
		return nil, err
	}
	if _, err := add("file, sparse float32, deflate", Options{}); err != nil {
		return nil, err
	}
	if quantized != nil {
		if _, err := add("file, sparse int8, uncompressed", Options{Quantized: quantized, NoCompression: true}); err != nil {
			return nil, err
		}
		if _, err := add("file, sparse int8, deflate", Options{Quantized: quantized}); err != nil {
			return nil, err
		}
	}
	r.Rows = append([]SizeRow{{Name: "float32 parameters", Bytes: r.DenseFloat32}}, r.Rows...)
	for i := range r.Rows {
		r.Rows[i].Ratio = float64(r.DenseFloat32) / float64(r.Rows[i].Bytes)
	}
	return r, nil
}

// String renders the report as a table.
func (r *SizeReport) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d parameters, %d non-zero (%.2f%% sparse)\n", r.Params, r.NonZero,
		100*(1-float64(r.NonZero)/float64(max(r.Params, 1))))
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "storage\tbytes\tratio\t")
	for _, row := range r.Rows {
		fmt.Fprintf(tw, "%s\t%d\t%.1fx\t\n", row.Name, row.Bytes, row.Ratio)
	}
	_ = tw.Flush()
	return b.String()
}
