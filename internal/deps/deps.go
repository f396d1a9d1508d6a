// Package deps pins the project's direct dependencies in go.mod while packages are being written in parallel.
// It is removed once every dependency has a real importer.
package deps

import (
	_ "github.com/gomlx/gomlx/backends/default"
	_ "github.com/gomlx/gomlx/pkg/ml/train"
	_ "gonum.org/v1/plot"
	_ "github.com/janpfeifer/gonb/gonbui"
	_ "github.com/google/go-cmp/cmp"
	_ "git.sr.ht/~sbinet/cmpimg"
	_ "github.com/gomlx/gomlx/ui/commandline"
	_ "github.com/gomlx/gomlx/ui/gonb/plotly"
	_ "github.com/gomlx/gomlx/pkg/ml/context/checkpoints"
)
