package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"github.com/google/go-cmp/cmp"
	"github.com/prunelab/prunelab/pruning"
	"github.com/prunelab/prunelab/viz"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/prunelab/prunelab/backend"
	"github.com/prunelab/prunelab/datasets"
	"github.com/prunelab/prunelab/lottery"
)

func TestMain(m *testing.M) {
	if os.Getenv(backend.EnvBackend) == "" {
		os.Setenv(backend.EnvBackend, backend.PureGo)
	}
	os.Exit(m.Run())
}

var (
	lotteryOnce sync.Once
	lotteryDir  string
	lotteryErr  error
)

// lotteryRun runs a small real lottery experiment (the smoke preset, both controls, two replicates)
// once per test binary.
func lotteryRun(t *testing.T) string {
	t.Helper()
	lotteryOnce.Do(func() {
		lotteryDir, lotteryErr = os.MkdirTemp("", "report-test")
		if lotteryErr == nil {
			lotteryDir = filepath.Join(lotteryDir, "lottery-smoke")
			lotteryErr = runSmokeLottery(lotteryDir)
		}
	})
	if errors.Is(lotteryErr, datasets.ErrNotFound) {
		t.Skipf("MNIST unavailable: %v", lotteryErr)
	}
	if lotteryErr != nil {
		t.Fatal(lotteryErr)
	}
	return lotteryDir
}

func runSmokeLottery(dir string) error {
	p, _ := lottery.PresetByName("smoke")
	e := lottery.Experiment{Config: p.Config, Replicates: 2, Controls: lottery.Controls, Dir: dir}
	e.Config.Levels = 1
	_, err := e.Run()
	return err
}

// trainRun writes a training run directory as `prunelab train` does.
func trainRun(t *testing.T) string {
	dir := t.TempDir()
	write := func(name string, v any) {
		b, _ := json.Marshal(v)
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("config.json", map[string]any{"Model": "lenet-300-100", "Seed": 1})
	write("result.json", map[string]any{"model": "lenet-300-100", "steps": 200})
	write("history.json", []map[string]any{
		{"step": 100, "split": "test", "loss": 0.3, "accuracy": 0.91},
		{"step": 200, "split": "test", "loss": 0.2, "accuracy": 0.94}})
	return dir
}

func TestHTMLHasEveryFigureAndNoScripts(t *testing.T) {
	lot := lotteryRun(t)
	var buf bytes.Buffer
	if err := HTML(&buf, lot, trainRun(t)); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	figs, err := LotteryFigures(lot)
	if err != nil {
		t.Fatal(err)
	}
	// Lottery figures plus the training curve.
	if got, want := strings.Count(page, "<svg"), len(figs)+1; got < want {
		t.Errorf("page has %d <svg>, want at least %d", got, want)
	}
	for _, want := range []string{"Lottery run lottery-smoke", "random-mask", "Training run", "prune_rate"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	for _, bad := range []string{"<script", `src="http`, `href="http`, "url(http"} {
		if strings.Contains(page, bad) {
			t.Errorf("page contains %q: not self-contained", bad)
		}
	}
	if err := HTML(&buf, t.TempDir()); !errors.Is(err, ErrNotRunDir) {
		t.Errorf("empty directory: err = %v, want ErrNotRunDir", err)
	}
}

// chromium renders path headless and returns its log, the DOM and a screenshot.
func chromium(t *testing.T, bin, path, shot string) (log, dom string) {
	t.Helper()
	args := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir(), "--enable-logging=stderr", "--log-level=0", "--window-size=1200,8000"}
	var stderr bytes.Buffer
	cmd := exec.Command(bin, append(args, "--dump-dom", "file://"+path)...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium --dump-dom: %v\n%s", err, stderr.String())
	}
	cmd = exec.Command(bin, append(args, "--screenshot="+shot, "file://"+path)...)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium --screenshot: %v\n%s", err, stderr.String())
	}
	return stderr.String(), string(out)
}

// consoleMessages picks the page's console messages out of Chromium's log.
func consoleMessages(log string) []string {
	var msgs []string
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, ":CONSOLE") {
			msgs = append(msgs, line)
		}
	}
	return msgs
}

// TestReportInChromium opens the report of a real lottery run in headless Chromium (Debian's
// chromium, which CI installs): no console message, every figure in the DOM, a non-blank screenshot.
func TestReportInChromium(t *testing.T) {
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium not installed (apt-get install chromium)")
	}
	// First show the check can fail: a page that logs an error is caught.
	bad := filepath.Join(t.TempDir(), "bad.html")
	os.WriteFile(bad, []byte(`<html><body><script>console.error("planted")</script></body></html>`), 0o644)
	if log, _ := chromium(t, bin, bad, filepath.Join(t.TempDir(), "bad.png")); len(consoleMessages(log)) == 0 {
		t.Fatalf("the console check missed a planted console.error; log:\n%s", log)
	}

	lot := lotteryRun(t)
	page := filepath.Join(lot, "report.html")
	if err := WriteHTML(page, lot); err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(t.TempDir(), "report.png")
	log, dom := chromium(t, bin, page, shot)
	if msgs := consoleMessages(log); len(msgs) > 0 {
		t.Errorf("console messages:\n%s", strings.Join(msgs, "\n"))
	}
	figs, _ := LotteryFigures(lot)
	if got := strings.Count(dom, "<figure"); got != len(figs) {
		t.Errorf("rendered DOM has %d <figure> elements, want %d", got, len(figs))
	}
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	// Non-blank: many distinct colours (figures), not a white page.
	colours := map[uint32]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 7 {
		for x := b.Min.X; x < b.Max.X; x += 7 {
			r, g, bl, _ := img.At(x, y).RGBA()
			colours[r>>8<<16|g>>8<<8|bl>>8] = true
		}
	}
	if len(colours) < 50 {
		t.Errorf("screenshot has %d distinct colours: blank?", len(colours))
	}
}

func TestSensitivitySeries(t *testing.T) {
	table := &pruning.SensitivityTable{Baseline: 0.98, Sparsities: []float64{0.5, 0.9},
		Layers: []pruning.SensitivityRow{{Path: "/fc0/dense/weights", Metrics: []float64{0.97, 0.5}}}}
	got := SensitivitySeries(table)
	want := []viz.Series{{Name: "/fc0/dense/weights", X: []float64{0, 50, 90}, Y: [][]float64{{98, 97, 50}}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("SensitivitySeries (-want +got):\n%s", diff)
	}
}
