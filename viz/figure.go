package viz

import (
	"bytes"
	"errors"
	"fmt"
	"image/color"
	"io"
	"os"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Sentinel errors wrapped by the errors this package returns.
var (
	// ErrNoData reports that there is nothing to draw: no layers, no
	// series, no values.
	ErrNoData = errors.New("viz: no data")

	// ErrShape reports data whose lengths or shapes disagree, or values
	// that the requested axis cannot show (e.g. non-positive values on a
	// log axis).
	ErrShape = errors.New("viz: bad shape")

	// ErrFormat reports an output format other than SVG or PNG.
	ErrFormat = errors.New("viz: unknown format")
)

// A Figure is something this package can draw: a plot, a heat map with
// its colour bar, or several panels. Every figure constructor in this
// package returns one; [PlotFigure] adapts any gonum plot.
type Figure interface {
	// Size returns the figure's natural size.
	Size() (width, height vg.Length)

	// Draw draws the figure so that it fills c.
	Draw(c draw.Canvas)
}

// PlotFigure adapts a gonum plot to a [Figure].
type PlotFigure struct {
	Plot *plot.Plot

	// Width and Height are the figure size; zero selects DefaultWidth and
	// DefaultHeight.
	Width, Height vg.Length
}

// Size implements [Figure].
func (f PlotFigure) Size() (vg.Length, vg.Length) {
	return orDefault(f.Width, DefaultWidth), orDefault(f.Height, DefaultHeight)
}

// Draw implements [Figure].
func (f PlotFigure) Draw(c draw.Canvas) { f.Plot.Draw(c) }

func orDefault(v, def vg.Length) vg.Length {
	if v <= 0 {
		return def
	}
	return v
}

// Tile lays figures out in a grid of cols columns, row by row (cols ≤ 0
// puts them all in one row). Each cell is as large as the largest figure's
// natural size.
func Tile(cols int, figs ...Figure) Figure {
	if cols <= 0 || cols > len(figs) {
		cols = max(len(figs), 1)
	}
	return &tiled{cols: cols, figs: figs}
}

type tiled struct {
	cols int
	figs []Figure
}

func (t *tiled) rows() int { return (len(t.figs) + t.cols - 1) / t.cols }

func (t *tiled) Size() (vg.Length, vg.Length) {
	var w, h vg.Length
	for _, f := range t.figs {
		fw, fh := f.Size()
		w, h = max(w, fw), max(h, fh)
	}
	return w * vg.Length(t.cols), h * vg.Length(max(t.rows(), 1))
}

func (t *tiled) Draw(c draw.Canvas) {
	tiles := draw.Tiles{Cols: t.cols, Rows: max(t.rows(), 1)}
	for i, f := range t.figs {
		f.Draw(tiles.At(c, i%t.cols, i/t.cols))
	}
}

// DefaultDPI is the resolution of PNG files written by [Save] and of
// [WritePNG] when it is given a non-positive resolution.
const DefaultDPI = 144

// WriteSVG writes f to w as a standalone SVG document. Text uses Liberation
// Sans, with Arial and Helvetica (metric-compatible) as fallbacks, so the
// document embeds no fonts.
func WriteSVG(w io.Writer, f Figure) error {
	width, height, err := checkSize(f)
	if err != nil {
		return err
	}
	c := vgsvg.New(width, height)
	drawOn(c, f)
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return err
	}
	_, err = io.WriteString(w, fixSVGFonts(buf.String()))
	return err
}

// WritePNG writes f to w as a PNG image at dpi dots per inch (DefaultDPI
// when dpi ≤ 0).
func WritePNG(w io.Writer, f Figure, dpi int) error {
	if dpi <= 0 {
		dpi = DefaultDPI
	}
	width, height, err := checkSize(f)
	if err != nil {
		return err
	}
	c := vgimg.NewWith(vgimg.UseWH(width, height), vgimg.UseDPI(dpi), vgimg.UseBackgroundColor(color.White))
	drawOn(c, f)
	_, err = vgimg.PngCanvas{Canvas: c}.WriteTo(w)
	return err
}

// checkSize returns f's size, or an error wrapping ErrNoData when it has
// no area (e.g. an empty Tile).
func checkSize(f Figure) (vg.Length, vg.Length, error) {
	w, h := f.Size()
	if !(w > 2*margin && h > 2*margin) {
		return 0, 0, fmt.Errorf("viz: %w: figure size %v × %v", ErrNoData, w, h)
	}
	return w, h, nil
}

// Save writes f to the file at path in the format its extension names:
// .svg or .png (at DefaultDPI). It writes a temporary file in the same
// directory and renames it into place, so readers never see a partial
// figure. Errors wrap [ErrFormat] for other extensions.
func Save(path string, f Figure) error {
	var write func(io.Writer) error
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".svg":
		write = func(w io.Writer) error { return WriteSVG(w, f) }
	case ".png":
		write = func(w io.Writer) error { return WritePNG(w, f, DefaultDPI) }
	default:
		return fmt.Errorf("viz: %s: %w %q (want .svg or .png)", path, ErrFormat, ext)
	}
	return writeFileAtomic(path, write)
}

// writeFileAtomic writes a file through a temporary file and a rename.
func writeFileAtomic(path string, write func(io.Writer) error) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("viz: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if err = write(tmp); err != nil {
		return fmt.Errorf("viz: writing %s: %w", path, err)
	}
	if err = tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("viz: %w", err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("viz: %w", err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("viz: %w", err)
	}
	return nil
}

// margin is the white border around every written figure.
const margin = vg.Length(6)

// drawOn fills the canvas white and draws f on it inside a small margin.
func drawOn(c vg.CanvasSizer, f Figure) {
	dc := draw.New(c)
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())
	f.Draw(draw.Crop(dc, margin, -margin, margin, -margin))
}

// fixSVGFonts gives the Liberation families of gonum's SVG output their
// metric-compatible system fallbacks, so text keeps its size and place
// where Liberation fonts are not installed.
func fixSVGFonts(svg string) string {
	return strings.NewReplacer(
		"font-family:Liberation Sans;", "font-family:'Liberation Sans',Arial,Helvetica,sans-serif;",
		"font-family:Liberation Serif;", "font-family:'Liberation Serif','Times New Roman',Times,serif;",
		"font-family:Liberation Mono;", "font-family:'Liberation Mono','Courier New',Courier,monospace;",
	).Replace(svg)
}

// svgString renders f as an SVG document in a string.
func svgString(f Figure) (string, error) {
	var b strings.Builder
	if err := WriteSVG(&b, f); err != nil {
		return "", err
	}
	return b.String(), nil
}

// inlineSVG returns the <svg> element of an SVG document, without the XML
// prolog and comments before it, ready to be placed inside HTML.
func inlineSVG(doc string) string {
	if i := strings.Index(doc, "<svg"); i >= 0 {
		doc = doc[i:]
	}
	return strings.TrimSpace(doc)
}
