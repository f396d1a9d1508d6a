package experiment

import (
	"errors"
	"fmt"
)

// ErrOptions marks an error in a flow's options (an unknown name, a value out of range, a pattern
// that matches no layer): the caller asked for something that cannot run, as opposed to a run that
// failed. The CLI exits with status 2 on it. Test with errors.Is.
var ErrOptions = errors.New("bad options")

// optionsError wraps err as an options error; its message stays err's own.
type optionsError struct{ err error }

func (e optionsError) Error() string            { return e.err.Error() }
func (e optionsError) Unwrap() []error          { return []error{e.err, ErrOptions} }
func badOptions(err error) error                { return optionsError{err} }
func badOptionsf(format string, a ...any) error { return optionsError{fmt.Errorf(format, a...)} }
