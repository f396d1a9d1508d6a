package viz

import (
	"strings"
	"sync"
	"testing"

	"gonum.org/v1/plot/vg"
)

// fakeNotebook records what would be sent to GoNB.
type fakeNotebook struct {
	displays []string
	updates  [][2]string
	syncs    int
}

// install replaces the GoNB front end for the test's duration.
func (f *fakeNotebook) install(t *testing.T, active bool) {
	saved := notebook
	t.Cleanup(func() { notebook = saved })
	notebook.active = func() bool { return active }
	notebook.displayHTML = func(html string) { f.displays = append(f.displays, html) }
	notebook.updateHTML = func(id, html string) { f.updates = append(f.updates, [2]string{id, html}) }
	notebook.sync = func() { f.syncs++ }
	notebook.uniqueID = func() string { return "42" }
}

func testFigure(t *testing.T) Figure {
	f, err := SparsityBars([]LayerCount{{Name: "fc1", Kept: 1, Total: 4}}, BarOptions{Width: 2 * vg.Inch})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestShowOutsideNotebook(t *testing.T) {
	var nb fakeNotebook
	nb.install(t, false)
	if err := Show(testFigure(t)); err != nil {
		t.Fatal(err)
	}
	if len(nb.displays)+len(nb.updates)+nb.syncs != 0 {
		t.Errorf("Show outside a notebook sent %d displays, %d updates, %d syncs; want nothing", len(nb.displays), len(nb.updates), nb.syncs)
	}
}

func TestShowInNotebook(t *testing.T) {
	var nb fakeNotebook
	nb.install(t, true)
	if err := Show(testFigure(t)); err != nil {
		t.Fatal(err)
	}
	if len(nb.displays) != 1 || nb.syncs != 1 {
		t.Fatalf("Show sent %d displays and %d syncs, want 1 and 1", len(nb.displays), nb.syncs)
	}
	html := nb.displays[0]
	if !strings.HasPrefix(html, "<div><svg") || !strings.HasSuffix(html, "</svg></div>") || strings.Contains(html, "<?xml") {
		t.Errorf("Show displayed %.60q…, want an inline <svg> in a <div>", html)
	}
}

func TestLive(t *testing.T) {
	var nb fakeNotebook
	nb.install(t, true)
	live := &Live{Every: 3, Options: CurveOptions{LogY: true}}
	for step := range 7 {
		live.Add("train loss", float64(step), 1/float64(step+1))
		live.Add("test loss", float64(step), 0) // non-positive: dropped on the log axis
	}
	// 14 points, a redraw every 3: 4 updates, all of the same display.
	if len(nb.updates) != 4 {
		t.Fatalf("%d updates, want 4", len(nb.updates))
	}
	for _, u := range nb.updates {
		if u[0] != "viz_live_42" || !strings.HasPrefix(u[1], "<div><svg") {
			t.Errorf("update (%q, %.30q…), want an <svg> in display viz_live_42", u[0], u[1])
		}
	}
	if len(nb.displays) != 0 || nb.syncs != 0 {
		t.Errorf("Add displayed %d permanent outputs and synced %d times, want none", len(nb.displays), nb.syncs)
	}
	if err := live.Done(); err != nil {
		t.Fatal(err)
	}
	last := nb.updates[len(nb.updates)-1]
	if last != [2]string{"viz_live_42", ""} {
		t.Errorf("Done's last update is %.40q, want the transient display erased", last)
	}
	if len(nb.displays) != 1 || !strings.HasPrefix(nb.displays[0], "<div><svg") || nb.syncs != 1 {
		t.Errorf("Done: %d displays, %d syncs; want the final figure once, then a sync", len(nb.displays), nb.syncs)
	}
}

func TestLiveOutsideNotebook(t *testing.T) {
	var nb fakeNotebook
	nb.install(t, false)
	var live Live // the zero value works
	for step := range 120 {
		live.Add("loss", float64(step), 2/float64(step+1))
	}
	if err := live.Done(); err != nil {
		t.Fatal(err)
	}
	if len(nb.displays)+len(nb.updates)+nb.syncs != 0 {
		t.Errorf("Live outside a notebook sent output")
	}
	f, err := live.Figure()
	if err != nil {
		t.Fatal(err)
	}
	if w, h := f.Size(); w != DefaultWidth || h != DefaultHeight {
		t.Errorf("Live figure size %v × %v, want the default", w, h)
	}
	if live.series[0].Name != "loss" || len(live.series[0].X) != 120 {
		t.Errorf("Live recorded %d points of %q, want 120 of loss", len(live.series[0].X), live.series[0].Name)
	}
}

func TestLiveConcurrentAdds(t *testing.T) {
	var nb fakeNotebook
	var mu sync.Mutex
	nb.install(t, true)
	update := notebook.updateHTML
	notebook.updateHTML = func(id, html string) { mu.Lock(); defer mu.Unlock(); update(id, html) }
	live := &Live{Every: 25}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for step := range 50 {
				live.Add("loss", float64(step), float64(g+1))
			}
		})
	}
	wg.Wait()
	f, err := live.Figure()
	if err != nil {
		t.Fatal(err)
	}
	if f == nil || len(live.series) != 1 || len(live.series[0].X) != 200 {
		t.Errorf("recorded %d points, want 200", len(live.series[0].X))
	}
	if len(nb.updates) != 8 {
		t.Errorf("%d redraws for 200 points every 25, want 8", len(nb.updates))
	}
}
