package report

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"

	"github.com/prunelab/prunelab/internal/atomicfile"
	"github.com/prunelab/prunelab/lottery"
	"github.com/prunelab/prunelab/viz"
)

// ErrNotRunDir is wrapped when a directory holds no run this package can read.
var ErrNotRunDir = errors.New("not a run directory")

// HTML writes one self-contained HTML page (inline SVG figures, no scripts, no external resources)
// for the run directories: for each, its configuration, its results table and its figures; for
// several lottery runs, a figure comparing their tickets.
func HTML(w io.Writer, dirs ...string) error {
	if len(dirs) == 0 {
		return errors.New("report: no run directory given")
	}
	rep := viz.Report{Title: "Prunelab report"}
	var compare []viz.Series
	for _, dir := range dirs {
		switch kind(dir) {
		case "lottery":
			sec, ticket, err := lotterySection(dir)
			if err != nil {
				return err
			}
			rep.Sections = append(rep.Sections, sec...)
			ticket.Name = filepath.Base(dir)
			compare = append(compare, ticket)
		case "train":
			sec, err := trainSection(dir)
			if err != nil {
				return err
			}
			rep.Sections = append(rep.Sections, sec)
		default:
			return fmt.Errorf("report: %s: %w (no lottery results.json nor train result.json)", dir, ErrNotRunDir)
		}
	}
	if len(compare) > 1 {
		f, err := viz.AccuracyVsWeights(compare, viz.CurveOptions{Title: "Winning tickets compared", YLabel: "test accuracy (%)"})
		if err != nil {
			return fmt.Errorf("report: %w", err)
		}
		rep.Sections = append([]viz.Section{{Heading: "Comparison", Blocks: []viz.Block{
			viz.FigureBlock{Caption: "Test accuracy at the early-stopping iteration of each run's tickets.", Figure: f}}}},
			rep.Sections...)
	}
	return viz.WriteHTMLReport(w, rep)
}

// WriteHTML writes the report of dirs to path, atomically.
func WriteHTML(path string, dirs ...string) error {
	return atomicfile.Write(path, func(w io.Writer) error { return HTML(w, dirs...) })
}

func kind(dir string) string {
	if _, err := os.Stat(filepath.Join(dir, lottery.ConfigFile)); err == nil {
		if m, _ := filepath.Glob(filepath.Join(dir, "replicate_*")); len(m) > 0 {
			return "lottery"
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "result.json")); err == nil {
		return "train"
	}
	return ""
}

// configTable renders a JSON object's fields as a two-column table, sorted by name.
func configTable(caption string, raw json.RawMessage) (viz.Table, error) {
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return viz.Table{}, err
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	t := viz.Table{Caption: caption, Header: []string{"setting", "value"}}
	for _, k := range keys {
		t.Rows = append(t.Rows, []string{k, fmt.Sprint(m[k])})
	}
	return t, nil
}

func lotterySection(dir string) ([]viz.Section, viz.Series, error) {
	var cfg struct {
		Config   json.RawMessage   `json:"config"`
		Hash     string            `json:"hash"`
		Versions map[string]string `json:"versions"`
	}
	b, err := os.ReadFile(filepath.Join(dir, lottery.ConfigFile))
	if err != nil {
		return nil, viz.Series{}, fmt.Errorf("report: %w", err)
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		return nil, viz.Series{}, fmt.Errorf("report: %s: %w", dir, err)
	}
	ct, err := configTable("Configuration (hashed into the run directory's name)", cfg.Config)
	if err != nil {
		return nil, viz.Series{}, fmt.Errorf("report: %s: %w", dir, err)
	}
	sum, err := lottery.Summarize(dir)
	if err != nil {
		return nil, viz.Series{}, err
	}
	rt := viz.Table{Caption: "Mean ± std over replicates; accuracy is on the test set.",
		Header: []string{"branch", "level", "weights %", "replicates", "final accuracy %", "early-stop accuracy %", "early-stop iteration"}}
	ticket := viz.Series{}
	for _, r := range sum.Rows {
		pm := func(m, s float64, scale float64, prec int) string {
			v := strconv.FormatFloat(m*scale, 'f', prec, 64)
			if r.Replicates > 1 {
				v += " ± " + strconv.FormatFloat(s*scale, 'f', prec, 64)
			}
			return v
		}
		rt.Rows = append(rt.Rows, []string{r.Branch, strconv.Itoa(r.Level), strconv.FormatFloat(r.WeightsRemaining, 'f', 2, 64),
			strconv.Itoa(r.Replicates), pm(r.TestAcc, r.TestAccStd, 100, 2), pm(r.EarlyStopAcc, r.EarlyStopAccStd, 100, 2),
			pm(r.EarlyStopIter, r.EarlyStopIterStd, 1, 0)})
		if r.Branch == lottery.Main {
			ticket.X = append(ticket.X, r.WeightsRemaining)
		}
	}
	// The comparison series: the ticket's mean early-stop accuracy per level.
	var ys []float64
	for _, r := range sum.Rows {
		if r.Branch == lottery.Main {
			ys = append(ys, 100*r.EarlyStopAcc)
		}
	}
	ticket.Y = [][]float64{ys}
	figs, err := LotteryFigures(dir)
	if err != nil {
		return nil, viz.Series{}, err
	}
	blocks := []viz.Block{viz.Text(fmt.Sprintf("Run directory %s (configuration hash %s), produced by %v.", dir, cfg.Hash, cfg.Versions)), ct, rt}
	var figBlocks []viz.Block
	for _, f := range figs {
		figBlocks = append(figBlocks, viz.FigureBlock{Caption: f.Title, Figure: f.Figure})
	}
	return []viz.Section{
		{Heading: "Lottery run " + filepath.Base(dir), Blocks: blocks},
		{Heading: "Figures of " + filepath.Base(dir), Blocks: figBlocks},
	}, ticket, nil
}

func trainSection(dir string) (viz.Section, error) {
	var blocks []viz.Block
	if b, err := os.ReadFile(filepath.Join(dir, "config.json")); err == nil {
		ct, err := configTable("Configuration", b)
		if err != nil {
			return viz.Section{}, fmt.Errorf("report: %s: %w", dir, err)
		}
		blocks = append(blocks, ct)
	}
	b, err := os.ReadFile(filepath.Join(dir, "result.json"))
	if err != nil {
		return viz.Section{}, fmt.Errorf("report: %w", err)
	}
	rt, err := configTable("Result", b)
	if err != nil {
		return viz.Section{}, fmt.Errorf("report: %s: %w", dir, err)
	}
	blocks = append(blocks, rt)
	if f, err := TrainFigure(dir); err == nil {
		blocks = append(blocks, viz.FigureBlock{Caption: f.Title, Figure: f.Figure})
	} else if !errors.Is(err, os.ErrNotExist) {
		return viz.Section{}, err
	}
	return viz.Section{Heading: "Training run " + filepath.Base(dir), Blocks: blocks}, nil
}

// TrainFigure draws a training run's accuracy on each evaluation set against the step, from its
// history.json (an error wrapping os.ErrNotExist when there is none).
func TrainFigure(dir string) (Figure, error) {
	b, err := os.ReadFile(filepath.Join(dir, "history.json"))
	if err != nil {
		return Figure{}, fmt.Errorf("report: %w", err)
	}
	var hist []struct {
		Step     int     `json:"step"`
		Split    string  `json:"split"`
		Accuracy float64 `json:"accuracy"`
	}
	if err := json.Unmarshal(b, &hist); err != nil {
		return Figure{}, fmt.Errorf("report: %s: %w", dir, err)
	}
	bySplit := map[string]*viz.Series{}
	var order []string
	for _, p := range hist {
		s, ok := bySplit[p.Split]
		if !ok {
			s = &viz.Series{Name: p.Split, Y: [][]float64{nil}}
			bySplit[p.Split] = s
			order = append(order, p.Split)
		}
		s.X = append(s.X, float64(p.Step))
		s.Y[0] = append(s.Y[0], 100*p.Accuracy)
	}
	var series []viz.Series
	for _, name := range order {
		series = append(series, *bySplit[name])
	}
	f, err := viz.TrainingCurves(series, viz.CurveOptions{Title: "Accuracy during training", XLabel: "step", YLabel: "accuracy (%)"})
	if err != nil {
		return Figure{}, fmt.Errorf("report: %s: %w", dir, err)
	}
	return Figure{Name: "training_curves", Title: "Accuracy on each evaluation set during training", Figure: f}, nil
}
