package lottery

import (
	"fmt"
	"path/filepath"
)

// Every file name of a run directory, in one place:
//
//	<out>/lottery-<hash>/
//	  config.json                  the Config, the versions that produced the run
//	  results.json, results.csv    per branch and level: mean ± std over the finished replicates
//	  replicate_<r>/
//	    rewind.bin                 the weights survivors are rewound to (init or iteration k)
//	    level_<L>/<branch>/
//	      mask.json                the level's pruning masks (absent at level 0)
//	      final.bin                the weights after training
//	      metrics.json             the level's results; written last, it marks the level complete
//	      timing.json              wall times (kept out of metrics.json so results are reproducible)
const (
	ConfigFile  = "config.json"
	ResultsJSON = "results.json"
	ResultsCSV  = "results.csv"
	RewindFile  = "rewind.bin"
	MaskFile    = "mask.json"
	FinalFile   = "final.bin"
	MetricsFile = "metrics.json"
	TimingFile  = "timing.json"
)

// RunDir is the run directory of c under out.
func RunDir(out string, c Config) string {
	return filepath.Join(out, "lottery-"+c.Hash())
}

// ReplicateDir is the directory of replicate r (1-based).
func ReplicateDir(run string, r int) string {
	return filepath.Join(run, fmt.Sprintf("replicate_%d", r))
}

// LevelDir is the directory of one branch at one level of replicate r.
func LevelDir(run string, r, level int, branch string) string {
	return filepath.Join(ReplicateDir(run, r), fmt.Sprintf("level_%d", level), branch)
}
