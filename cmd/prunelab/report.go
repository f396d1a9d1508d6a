package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"

	"github.com/prunelab/prunelab/report"
)

func init() { commands["report"] = reportCommand }

var reportCommand = command{
	summary: "render run directories into one self-contained HTML page",
	usage:   reportUsage,
	run:     runReport,
}

const reportUsage = `prunelab report DIR [DIR...]: render run directories (of prunelab lottery or train) into one HTML
page with their configurations, result tables and figures, inline: no scripts, no external files, so it
opens anywhere and can be mailed. With several lottery runs it adds a figure comparing their tickets.

Examples:
  prunelab report runs/lottery-2a8706063a31              # writes runs/lottery-2a8706063a31/report.html
  prunelab report -o compare.html runs/lottery-*          # several runs in one page
`

func runReport(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("report", reportUsage, stderr)
	out := fs.String("o", "", "output file (default: DIR/report.html for one directory, report.html for several)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	dirs := fs.Args()
	if len(dirs) == 0 {
		return usageError{fmt.Errorf("give at least one run directory")}
	}
	path := *out
	if path == "" {
		path = "report.html"
		if len(dirs) == 1 {
			path = filepath.Join(dirs[0], "report.html")
		}
	}
	if err := report.WriteHTML(path, dirs...); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Report: %s\n", path)
	return nil
}
