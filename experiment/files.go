package experiment

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/prunelab/prunelab/internal/atomicfile"
	"github.com/prunelab/prunelab/pruning"
	"github.com/prunelab/prunelab/training"
)

// File names inside run directories, all defined here. Each flow writes its result file last: its
// presence marks the run done, and a flow asked for a finished run reads it instead of running again.
const (
	ConfigFile      = "config.json"  // what changes the run's numbers (hashed into the directory name)
	ResultFile      = "result.json"  // train, prune and sensitivity runs: the result, written last
	ReportFile      = "report.json"  // compact, quantize, export and distill runs: the result, written last
	HistoryJSONFile = "history.json" // every evaluation during training
	HistoryCSVFile  = "history.csv"
	ReportTextFile  = "report.txt" // pruning.Report: per-layer parameters, non-zeros, FLOPs
	ReportJSONFile  = "report.json"
	MasksFile       = "masks.json" // pruning.SaveMasks
	UpdatesCSVFile  = "updates.csv"
	SensitivityJSON = "sensitivity.json"
	SensitivityCSV  = "sensitivity.csv"
	AmountsFile     = "amounts.json"
	CheckpointDir   = "checkpoint"
	ModelFile       = "model.plx"       // package export's format
	ONNXFile        = "model.onnx"      // runs that started from an ONNX model: the result as ONNX
	ONNXInt8File    = "model-int8.onnx" // the same with INT8 weights (PruneOptions.ONNXInt8)
	ResultsJSONFile = "results.json"    // language-model one-shot runs: the result, written last
	ResultsCSVFile  = "results.csv"
	LMPointsDir     = "points"                 // one JSON file per finished (method, pattern, seed), for resuming
	LMFigureName    = "perplexity_vs_sparsity" // .svg and .png
)

// Hash names a run directory by its configuration: the first 10 hex digits of the SHA-256 of its
// JSON. Paths and display options are never part of what is hashed.
func Hash(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // Plain structs of strings and numbers always marshal.
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])[:10]
}

// readJSON decodes path into v.
func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// writeReport writes the report as text and JSON into dir.
func writeReport(dir string, r *pruning.Report) error {
	if err := atomicfile.WriteFile(filepath.Join(dir, ReportTextFile), []byte(r.String())); err != nil {
		return err
	}
	js, err := r.JSON()
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, ReportJSONFile), append(js, '\n'))
}

// writeHistory writes evaluations as JSON and CSV into dir.
func writeHistory(dir string, h training.History) error {
	if err := atomicfile.WriteJSON(filepath.Join(dir, HistoryJSONFile), h); err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, HistoryCSVFile), func(w io.Writer) error {
		if _, err := fmt.Fprintln(w, "step,split,loss,accuracy"); err != nil {
			return err
		}
		for _, p := range h {
			if _, err := fmt.Fprintf(w, "%d,%s,%.6g,%.6g\n", p.Step, p.Split, p.Loss, p.Accuracy); err != nil {
				return err
			}
		}
		return nil
	})
}

// epochSeconds sums step durations per full epoch.
func epochSeconds(res *training.Result, stepsPerEpoch int) []float64 {
	var out []float64
	for i := 0; stepsPerEpoch > 0 && i+stepsPerEpoch <= len(res.StepDurations); i += stepsPerEpoch {
		var s float64
		for _, d := range res.StepDurations[i : i+stepsPerEpoch] {
			s += d.Seconds()
		}
		out = append(out, s)
	}
	return out
}

// logger returns w, or io.Discard when w is nil.
func logger(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}
