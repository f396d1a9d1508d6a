package viz

import (
	"fmt"
	"math"
	"sync"

	"github.com/janpfeifer/gonb/gonbui"
)

// notebook is the GoNB front end; tests replace it.
var notebook = struct {
	active      func() bool
	displayHTML func(html string)
	updateHTML  func(id, html string)
	sync        func()
	uniqueID    func() string
}{
	active:      func() bool { return gonbui.IsNotebook },
	displayHTML: gonbui.DisplayHTML,
	updateHTML:  gonbui.UpdateHTML,
	sync:        gonbui.Sync,
	uniqueID:    gonbui.UniqueId,
}

// Show displays f inline in a GoNB notebook cell, as SVG, and waits until
// the kernel has received it (gonbui.Sync), so the figure is not lost when
// the cell's program exits right after. Outside a notebook it does nothing
// and returns nil.
func Show(f Figure) error {
	if !notebook.active() {
		return nil
	}
	svg, err := svgString(f)
	if err != nil {
		return err
	}
	notebook.displayHTML("<div>" + inlineSVG(svg) + "</div>")
	notebook.sync()
	return nil
}

// Live shows training curves that redraw in place in a GoNB notebook while
// a long run goes on: call Add for every new point (e.g. from a training
// loop's per-step hook) and Done at the end. Outside a notebook it only
// records the points, which [Live.Figure] can still draw.
//
// The zero value is ready to use. Live is safe for concurrent use.
type Live struct {
	// Every is the number of Add calls between redraws; zero means 50.
	Every int

	// Options configure the figure, as for [TrainingCurves].
	Options CurveOptions

	mu      sync.Mutex
	series  []Series
	index   map[string]int
	pending int
	id      string
}

// Add records value at step for the named series and, in a notebook,
// redraws the figure after every Every points.
func (l *Live) Add(series string, step, value float64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.index == nil {
		l.index = map[string]int{}
	}
	i, ok := l.index[series]
	if !ok {
		i = len(l.series)
		l.index[series] = i
		l.series = append(l.series, Series{Name: series, Y: [][]float64{nil}})
	}
	s := &l.series[i]
	s.X = append(s.X, step)
	s.Y[0] = append(s.Y[0], value)
	l.pending++
	every := l.Every
	if every <= 0 {
		every = 50
	}
	if l.pending >= every && notebook.active() {
		l.pending = 0
		if l.id == "" {
			l.id = "viz_live_" + notebook.uniqueID()
		}
		if svg, err := l.svgLocked(); err == nil {
			notebook.updateHTML(l.id, "<div>"+inlineSVG(svg)+"</div>")
		}
	}
}

// Figure draws the points recorded so far with [TrainingCurves].
func (l *Live) Figure() (Figure, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.figureLocked()
}

func (l *Live) figureLocked() (Figure, error) {
	series := make([]Series, len(l.series))
	for i, s := range l.series {
		// Copy, so that later Adds do not race with drawing.
		series[i] = Series{Name: s.Name, X: append([]float64(nil), s.X...), Y: [][]float64{append([]float64(nil), s.Y[0]...)}}
		if l.Options.LogY {
			for j, y := range series[i].Y[0] {
				if y <= 0 {
					series[i].Y[0][j] = math.NaN() // a log axis cannot show it
				}
			}
		}
	}
	return TrainingCurves(series, l.Options)
}

func (l *Live) svgLocked() (string, error) {
	f, err := l.figureLocked()
	if err != nil {
		return "", err
	}
	return svgString(f)
}

// Done replaces the in-place display with the final figure as a permanent
// cell output and waits for the kernel to receive it. Outside a notebook it
// does nothing and returns nil.
func (l *Live) Done() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !notebook.active() {
		return nil
	}
	if l.id != "" {
		notebook.updateHTML(l.id, "") // erase the transient display
	}
	if len(l.series) == 0 {
		notebook.sync()
		return nil
	}
	svg, err := l.svgLocked()
	if err != nil {
		return fmt.Errorf("viz: Live: %w", err)
	}
	notebook.displayHTML("<div>" + inlineSVG(svg) + "</div>")
	notebook.sync()
	return nil
}
