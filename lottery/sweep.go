package lottery

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
)

// Sweep is a list of independent, idempotent experiments: a preset, overrides for all of them, and a
// grid whose cartesian product gives the entries. Each entry runs alone (`prunelab lottery -sweep FILE
// -index I`), so any batch engine (a Kubernetes Indexed Job, a Slurm array, GNU parallel) can fan a
// sweep out over machines writing to shared storage; entries that share a Config share a run directory
// and split its replicates between them.
//
// A sweep file is JSON:
//
//	{"preset": "quick",
//	 "set":  {"iterations": "2000it"},
//	 "grid": {"rewind": ["init", "500it"], "replicate": [1, 2, 3], "controls": ["reinit", "random-mask"]}}
//
// Keys of "set" and "grid" are Config's JSON names, plus "replicate" (run just that replicate) and
// "controls" (a comma-separated list).
type Sweep struct {
	Preset string           `json:"preset"`
	Set    map[string]any   `json:"set"`
	Grid   map[string][]any `json:"grid"`
}

// SweepEntry is one experiment of a sweep.
type SweepEntry struct {
	Index      int
	Label      string
	Experiment Experiment
}

// LoadSweep reads a sweep file, rejecting unknown fields.
func LoadSweep(path string) (*Sweep, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("lottery: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var s Sweep
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("lottery: sweep %s: %w", path, err)
	}
	return &s, nil
}

// Entries expands the grid, keys in sorted order, the last key varying fastest.
func (s *Sweep) Entries() ([]SweepEntry, error) {
	name := s.Preset
	if name == "" {
		name = "quick"
	}
	p, err := PresetByName(name)
	if err != nil {
		return nil, err
	}
	base := Experiment{Config: p.Config, Replicates: p.Replicates, Controls: p.Controls}
	if err := applySettings(&base, s.Set); err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(s.Grid))
	for k, vs := range s.Grid {
		if len(vs) == 0 {
			return nil, fmt.Errorf("lottery: sweep grid %q has no values", k)
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	entries := []SweepEntry{{Experiment: base}}
	for _, k := range keys {
		var next []SweepEntry
		for _, e := range entries {
			for _, v := range s.Grid[k] {
				ne := e
				ne.Experiment.Controls = slices.Clone(e.Experiment.Controls)
				if err := applySettings(&ne.Experiment, map[string]any{k: v}); err != nil {
					return nil, err
				}
				ne.Label = strings.TrimPrefix(e.Label+fmt.Sprintf(" %s=%v", k, v), " ")
				next = append(next, ne)
			}
		}
		entries = next
	}
	for i := range entries {
		entries[i].Index = i
		e := &entries[i].Experiment
		if e.Only > e.Replicates {
			e.Replicates = e.Only
		}
		if err := e.Config.Validate(); err != nil {
			return nil, fmt.Errorf("lottery: sweep entry %d (%s): %w", i, entries[i].Label, err)
		}
	}
	return entries, nil
}

// Entry returns entry i, or an error naming the valid range.
func (s *Sweep) Entry(i int) (SweepEntry, error) {
	entries, err := s.Entries()
	if err != nil {
		return SweepEntry{}, err
	}
	if i < 0 || i >= len(entries) {
		return SweepEntry{}, fmt.Errorf("lottery: sweep index %d out of range 0..%d", i, len(entries)-1)
	}
	return entries[i], nil
}

// applySettings sets Config fields by their JSON names, and "replicate", "replicates" and "controls".
func applySettings(e *Experiment, set map[string]any) error {
	if len(set) == 0 {
		return nil
	}
	fields := map[string]any{}
	for k, v := range set {
		switch k {
		case "replicate", "replicates":
			n, ok := v.(float64)
			if !ok || n < 1 || n != float64(int(n)) {
				return fmt.Errorf("lottery: %s must be a positive integer, got %v", k, v)
			}
			if k == "replicate" {
				e.Only = int(n)
			} else {
				e.Replicates = int(n)
			}
		case "controls":
			s, ok := v.(string)
			if !ok {
				return fmt.Errorf("lottery: controls must be a string such as \"reinit,random-mask\", got %v", v)
			}
			c, err := ParseControls(s)
			if err != nil {
				return err
			}
			e.Controls = c
		default:
			fields[k] = v
		}
	}
	if len(fields) == 0 {
		return nil
	}
	cur, err := json.Marshal(e.Config)
	if err != nil {
		return err
	}
	var m map[string]any
	if err := json.Unmarshal(cur, &m); err != nil {
		return err
	}
	for k, v := range fields {
		m[k] = v
	}
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var c Config
	if err := dec.Decode(&c); err != nil {
		return fmt.Errorf("lottery: setting %v: %w", fields, err)
	}
	e.Config = c
	return nil
}
