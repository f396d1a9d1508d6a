package lottery

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/prunelab/prunelab/internal/atomicfile"
	"github.com/prunelab/prunelab/pruning"
	"github.com/prunelab/prunelab/training"
)

// LayerKept counts the surviving weights of one layer.
type LayerKept struct {
	Path  string `json:"path"`
	Kept  int    `json:"kept"`
	Total int    `json:"total"`
}

// Point is one evaluation, at an iteration counted from initialization.
type Point struct {
	Iteration int    `json:"iteration"`
	Split     string `json:"split"`
	training.Metrics
}

// LevelResult is metrics.json: what one branch of one level of one replicate gave. It holds no wall
// times, so a resumed run writes exactly the same file as an uninterrupted one.
type LevelResult struct {
	Replicate int    `json:"replicate"`
	Level     int    `json:"level"`
	Branch    string `json:"branch"`
	// WeightsRemaining is the percentage of prunable weights kept (P_m in the paper).
	WeightsRemaining float64     `json:"weights_remaining"`
	Layers           []LayerKept `json:"layers"`
	// StartIteration is where training started (the rewind iteration) and EndIteration where it ended.
	StartIteration int `json:"start_iteration"`
	EndIteration   int `json:"end_iteration"`
	// Final metrics at EndIteration.
	FinalTest       training.Metrics `json:"final_test"`
	FinalValidation training.Metrics `json:"final_validation"`
	// EarlyStopIteration has the minimum validation loss; EarlyStopTest the test metrics there.
	EarlyStopIteration int              `json:"early_stop_iteration"`
	EarlyStopTest      training.Metrics `json:"early_stop_test"`
	// MaskJaccardPrevious is the Jaccard similarity of this level's kept weights with the previous
	// level's (main branch, level ≥ 1).
	MaskJaccardPrevious float64 `json:"mask_jaccard_previous,omitempty"`
	History             []Point `json:"history"`
}

// readLevel reads a finished level; os.ErrNotExist (wrapped) means the level is not finished.
func readLevel(dir string) (*LevelResult, error) {
	path := filepath.Join(dir, MetricsFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var res LevelResult
	if err := json.Unmarshal(b, &res); err != nil {
		return nil, fmt.Errorf("lottery: %s: %w: %v", path, ErrCorrupt, err)
	}
	if _, err := os.Stat(filepath.Join(dir, FinalFile)); err != nil {
		return nil, fmt.Errorf("lottery: %s: %w: metrics without final weights (%v)", dir, ErrCorrupt, err)
	}
	return &res, nil
}

// result assembles a level's metrics.
func (r *runner) result(ctx *context.Context, rep, level int, branch string, start int, tr *training.Result) (*LevelResult, error) {
	masks, err := pruning.GetMasks(ctx)
	if err != nil {
		return nil, err
	}
	res := &LevelResult{Replicate: rep, Level: level, Branch: branch, StartIteration: start, EndIteration: start + tr.EndStep,
		FinalTest: tr.Final["test"], FinalValidation: tr.Final["validation"]}
	kept, total := 0, 0
	for _, p := range masks.Paths() {
		m := masks[p]
		res.Layers = append(res.Layers, LayerKept{Path: p, Kept: m.NumKept(), Total: m.Size()})
		kept += m.NumKept()
		total += m.Size()
	}
	res.WeightsRemaining = 100 * float64(kept) / float64(total)
	for _, p := range tr.History {
		res.History = append(res.History, Point{Iteration: start + p.Step, Split: p.Split, Metrics: p.Metrics})
	}
	if step, ok := tr.History.EarlyStopStep("validation"); ok {
		res.EarlyStopIteration = start + step
		res.EarlyStopTest, _ = tr.History.At("test", step)
	}
	if branch == Main && level >= 2 {
		prev, err := pruning.LoadMasks(filepath.Join(LevelDir(r.dir, rep, level-1, Main), MaskFile))
		if err != nil {
			return nil, fmt.Errorf("lottery: %w", err)
		}
		c, err := pruning.CompareMasks(prev, masks)
		if err != nil {
			return nil, err
		}
		res.MaskJaccardPrevious = c.Total.Jaccard
	} else if branch == Main && level == 1 {
		res.MaskJaccardPrevious = float64(kept) / float64(total) // level 0 keeps everything
	}
	return res, nil
}

// row formats a level as one line of the live table.
func (res *LevelResult) row(resumed bool) string {
	note := ""
	if resumed {
		note = "  (done before)"
	}
	return fmt.Sprintf("replicate %d  level %2d  %-11s weights %6.2f%%  test %6.2f%%  early-stop it %6d  test there %6.2f%%%s",
		res.Replicate, res.Level, res.Branch, res.WeightsRemaining, 100*res.FinalTest.Accuracy,
		res.EarlyStopIteration, 100*res.EarlyStopTest.Accuracy, note)
}

// Row aggregates one branch at one level over the finished replicates: means and sample standard
// deviations (0 with one replicate).
type Row struct {
	Branch           string  `json:"branch"`
	Level            int     `json:"level"`
	WeightsRemaining float64 `json:"weights_remaining"`
	Replicates       int     `json:"replicates"`
	TestAcc          float64 `json:"test_accuracy"`
	TestAccStd       float64 `json:"test_accuracy_std"`
	EarlyStopAcc     float64 `json:"early_stop_test_accuracy"`
	EarlyStopAccStd  float64 `json:"early_stop_test_accuracy_std"`
	EarlyStopIter    float64 `json:"early_stop_iteration"`
	EarlyStopIterStd float64 `json:"early_stop_iteration_std"`
	// ReplicateJaccard is the mean pairwise Jaccard similarity of the replicates' masks (main
	// branch, two replicates or more; NaN otherwise, omitted from JSON as null).
	ReplicateJaccard *float64 `json:"replicate_mask_jaccard"`
}

// Summary is results.json: every finished (branch, level), ticket first, by level.
type Summary struct {
	Rows []Row `json:"rows"`
}

// ReadLevels reads every finished level under a run directory, sorted by branch (ticket first),
// level and replicate.
func ReadLevels(dir string) ([]*LevelResult, error) {
	levelDirs, err := filepath.Glob(filepath.Join(dir, "replicate_*", "level_*", "*"))
	if err != nil {
		return nil, err
	}
	var out []*LevelResult
	for _, d := range levelDirs {
		res, err := readLevel(d)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, res)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Branch != b.Branch {
			return branchOrder(a.Branch) < branchOrder(b.Branch)
		}
		if a.Level != b.Level {
			return a.Level < b.Level
		}
		return a.Replicate < b.Replicate
	})
	return out, nil
}

func branchOrder(b string) int { return slices.Index(append([]string{Main}, Controls...), b) }

// Summarize reads every finished level under a run directory.
func Summarize(dir string) (*Summary, error) {
	type key struct {
		branch string
		level  int
	}
	groups := map[key][]*LevelResult{}
	levels, err := ReadLevels(dir)
	if err != nil {
		return nil, err
	}
	for _, res := range levels {
		k := key{res.Branch, res.Level}
		groups[k] = append(groups[k], res)
	}
	keys := make([]key, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].branch != keys[j].branch {
			return branchOrder(keys[i].branch) < branchOrder(keys[j].branch)
		}
		return keys[i].level < keys[j].level
	})
	sum := &Summary{}
	for _, k := range keys {
		rs := groups[k]
		row := Row{Branch: k.branch, Level: k.level, Replicates: len(rs)}
		var w, acc, esAcc, esIt []float64
		for _, r := range rs {
			w = append(w, r.WeightsRemaining)
			acc = append(acc, r.FinalTest.Accuracy)
			esAcc = append(esAcc, r.EarlyStopTest.Accuracy)
			esIt = append(esIt, float64(r.EarlyStopIteration))
		}
		row.WeightsRemaining, _ = meanStd(w)
		row.TestAcc, row.TestAccStd = meanStd(acc)
		row.EarlyStopAcc, row.EarlyStopAccStd = meanStd(esAcc)
		row.EarlyStopIter, row.EarlyStopIterStd = meanStd(esIt)
		if k.branch == Main && k.level > 0 && len(rs) > 1 {
			j, err := replicateJaccard(dir, rs, k.level)
			if err != nil {
				return nil, err
			}
			row.ReplicateJaccard = &j
		}
		sum.Rows = append(sum.Rows, row)
	}
	return sum, nil
}

// replicateJaccard is the mean pairwise Jaccard similarity of the replicates' masks at a level.
func replicateJaccard(dir string, rs []*LevelResult, level int) (float64, error) {
	var masks []pruning.MaskSet
	for _, r := range rs {
		m, err := pruning.LoadMasks(filepath.Join(LevelDir(dir, r.Replicate, level, Main), MaskFile))
		if err != nil {
			return 0, fmt.Errorf("lottery: %w", err)
		}
		masks = append(masks, m)
	}
	var sum float64
	n := 0
	for i := range masks {
		for j := i + 1; j < len(masks); j++ {
			c, err := pruning.CompareMasks(masks[i], masks[j])
			if err != nil {
				return 0, err
			}
			sum += c.Total.Jaccard
			n++
		}
	}
	return sum / float64(n), nil
}

// meanStd returns the mean and the sample standard deviation (n−1; 0 for one value).
func meanStd(xs []float64) (mean, std float64) {
	for _, x := range xs {
		mean += x
	}
	mean /= float64(len(xs))
	if len(xs) < 2 {
		return mean, 0
	}
	for _, x := range xs {
		std += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(std / float64(len(xs)-1))
}

// Row returns the summary row of a branch at a level.
func (s *Summary) Row(branch string, level int) (Row, bool) {
	for _, r := range s.Rows {
		if r.Branch == branch && r.Level == level {
			return r, true
		}
	}
	return Row{}, false
}

// Write writes results.json and results.csv into the run directory, atomically.
func (s *Summary) Write(dir string) error {
	if err := atomicfile.WriteJSON(filepath.Join(dir, ResultsJSON), s); err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, ResultsCSV), s.WriteCSV)
}

// WriteCSV writes the summary as CSV with a header line.
func (s *Summary) WriteCSV(w io.Writer) error {
	var b strings.Builder
	b.WriteString("branch,level,weights_remaining,replicates,test_accuracy,test_accuracy_std," +
		"early_stop_test_accuracy,early_stop_test_accuracy_std,early_stop_iteration,early_stop_iteration_std,replicate_mask_jaccard\n")
	f := func(x float64) string { return strconv.FormatFloat(x, 'g', 6, 64) }
	for _, r := range s.Rows {
		j := ""
		if r.ReplicateJaccard != nil {
			j = f(*r.ReplicateJaccard)
		}
		fmt.Fprintf(&b, "%s,%d,%s,%d,%s,%s,%s,%s,%s,%s,%s\n", r.Branch, r.Level, f(r.WeightsRemaining), r.Replicates,
			f(r.TestAcc), f(r.TestAccStd), f(r.EarlyStopAcc), f(r.EarlyStopAccStd), f(r.EarlyStopIter), f(r.EarlyStopIterStd), j)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Table formats the summary for a terminal: one line per level, the ticket beside each control.
func (s *Summary) Table() string {
	var b strings.Builder
	branches := []string{}
	for _, r := range s.Rows {
		if !slices.Contains(branches, r.Branch) {
			branches = append(branches, r.Branch)
		}
	}
	fmt.Fprintf(&b, "%-6s %9s", "level", "weights")
	for _, br := range branches {
		fmt.Fprintf(&b, "  %-26s", br+" test (early-stop it)")
	}
	b.WriteString("\n")
	for _, r := range s.Rows {
		if r.Branch != Main {
			continue
		}
		fmt.Fprintf(&b, "%-6d %8.2f%%", r.Level, r.WeightsRemaining)
		for _, br := range branches {
			c, ok := s.Row(br, r.Level)
			if !ok {
				fmt.Fprintf(&b, "  %-26s", "-")
				continue
			}
			cell := fmt.Sprintf("%.2f%%", 100*c.TestAcc)
			if c.Replicates > 1 {
				cell += fmt.Sprintf("±%.2f", 100*c.TestAccStd)
			}
			cell += fmt.Sprintf(" (%.0f)", c.EarlyStopIter)
			fmt.Fprintf(&b, "  %-26s", cell)
		}
		b.WriteString("\n")
	}
	return b.String()
}
