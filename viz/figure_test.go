package viz_test

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gonum.org/v1/plot/vg"

	"github.com/prunelab/prunelab/viz"
)

func TestSaveFormatsAtomically(t *testing.T) {
	fig, err := viz.SparsityBars(layerCounts(), viz.BarOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for ext, magic := range map[string]string{".svg": "<?xml", ".png": "\x89PNG"} {
		path := filepath.Join(dir, "bars"+ext)
		if err := viz.Save(path, fig); err != nil {
			t.Fatalf("Save(%s): %v", path, err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(b, []byte(magic)) {
			t.Errorf("%s starts with %q, want %q", path, b[:min(len(b), 8)], magic)
		}
		if info, err := os.Stat(path); err != nil || info.Mode().Perm() != 0o644 {
			t.Errorf("%s: mode %v, err %v; want 0644", path, info.Mode(), err)
		}
	}
	// Overwriting replaces the file; no temporary files are left behind.
	if err := viz.Save(filepath.Join(dir, "bars.svg"), fig); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != "bars.png bars.svg" {
		t.Errorf("directory holds %v, want only the two figures", names)
	}

	if err := viz.Save(filepath.Join(dir, "bars.pdf"), fig); !errors.Is(err, viz.ErrFormat) {
		t.Errorf("Save(.pdf) error %v, want ErrFormat", err)
	}
	if err := viz.Save(filepath.Join(dir, "missing", "bars.svg"), fig); err == nil {
		t.Error("Save into a missing directory succeeded")
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriteErrors(t *testing.T) {
	fig, err := viz.SparsityBars(layerCounts(), viz.BarOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := viz.WriteSVG(failingWriter{}, fig); err == nil {
		t.Error("WriteSVG to a failing writer returned nil")
	}
	if err := viz.WritePNG(failingWriter{}, fig, 0); err == nil {
		t.Error("WritePNG to a failing writer returned nil")
	}
}

// TestSVGIsWellFormed checks every figure type's SVG: well-formed XML with
// an <svg> root, fonts with system fallbacks, and no embedded images.
func TestSVGIsWellFormed(t *testing.T) {
	figs := map[string]func() (viz.Figure, error){
		"heatmap":   func() (viz.Figure, error) { return viz.MaskHeatmap(mnistLayer(), viz.HeatmapOptions{}) },
		"pixels":    func() (viz.Figure, error) { return viz.PixelMap(mnistLayer(), viz.PixelMapOptions{}) },
		"model":     func() (viz.Figure, error) { return viz.ModelHeatmaps(modelLayers(), viz.ModelHeatmapOptions{}) },
		"bars":      func() (viz.Figure, error) { return viz.SparsityBars(layerCounts(), viz.BarOptions{}) },
		"histogram": func() (viz.Figure, error) { return viz.WeightHistogram(weightSamples(), viz.HistogramOptions{}) },
		"accuracy":  func() (viz.Figure, error) { return viz.AccuracyVsWeights(lotterySeries(), viz.CurveOptions{}) },
		"training":  func() (viz.Figure, error) { return viz.TrainingCurves(trainingSeries(), viz.CurveOptions{}) },
		"grouped": func() (viz.Figure, error) {
			categories, series := speedupBars()
			return viz.GroupedBars(categories, series, viz.GroupedBarOptions{})
		},
	}
	for name, build := range figs {
		t.Run(name, func(t *testing.T) {
			fig, err := build()
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			if err := viz.WriteSVG(&b, fig); err != nil {
				t.Fatal(err)
			}
			svg := b.String()
			dec := xml.NewDecoder(strings.NewReader(svg))
			root := ""
			for {
				tok, err := dec.Token()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("SVG is not well-formed XML: %v", err)
				}
				if s, ok := tok.(xml.StartElement); ok && root == "" {
					root = s.Name.Local
				}
			}
			if root != "svg" {
				t.Errorf("root element %q, want svg", root)
			}
			if !strings.Contains(svg, "'Liberation Sans',Arial,Helvetica,sans-serif") || strings.Contains(svg, "font-family:Liberation Sans;") {
				t.Error("SVG text lacks the font fallbacks")
			}
			if strings.Contains(svg, "<image") {
				t.Error("SVG embeds a raster image")
			}
			if len(svg) > 400_000 {
				t.Errorf("SVG is %d bytes; heat maps should be block-averaged", len(svg))
			}
		})
	}
}

func TestTileSize(t *testing.T) {
	a, _ := viz.SparsityBars(layerCounts(), viz.BarOptions{Width: 3 * vg.Inch, Height: 2 * vg.Inch})
	b, _ := viz.SensitivityCurves(sensitivitySeries(), viz.CurveOptions{Width: 4 * vg.Inch, Height: 3 * vg.Inch})
	w, h := viz.Tile(2, a, b, a).Size()
	if w != 8*vg.Inch || h != 6*vg.Inch {
		t.Errorf("Tile(2, 3×2in, 4×3in, 3×2in).Size() = %v × %v in, want 8 × 6", w/vg.Inch, h/vg.Inch)
	}
	if err := viz.WritePNG(io.Discard, viz.Tile(0, a, b), 40); err != nil {
		t.Error(err)
	}
	if err := viz.WriteSVG(io.Discard, viz.Tile(3)); !errors.Is(err, viz.ErrNoData) {
		t.Errorf("WriteSVG(empty Tile) error %v, want ErrNoData", err)
	}
}
