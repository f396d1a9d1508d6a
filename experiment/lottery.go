package experiment

import (
	"github.com/prunelab/prunelab/lottery"
	"github.com/prunelab/prunelab/report"
)

// Lottery runs (or resumes) a Lottery Ticket experiment ([lottery.Experiment.Run]) and, with
// figures, writes its figures (SVG and PNG, [report.LotteryFigures]) into its run directory. It
// returns the summary and the files written.
func Lottery(e *lottery.Experiment, figures bool) (*lottery.Summary, []string, error) {
	sum, err := e.Run()
	if err != nil || !figures {
		return sum, nil, err
	}
	figs, err := report.LotteryFigures(e.RunDir())
	if err != nil {
		return sum, nil, err
	}
	written, err := report.WriteFigures(e.RunDir(), figs)
	return sum, written, err
}
