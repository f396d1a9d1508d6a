package training

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Length is a training length as users write it: "2000it" (iterations, i.e. optimizer steps) or "5ep"
// (epochs, possibly fractional: "0.5ep"). The zero Length is zero steps.
type Length struct {
	// Steps, when Epochs is 0.
	Steps int
	// Epochs, when non-zero; converted to steps with the dataset's steps per epoch.
	Epochs float64
}

// ParseLength parses "2000it", "2000" (steps) or "5ep".
func ParseLength(s string) (Length, error) {
	t := strings.TrimSpace(s)
	switch {
	case strings.HasSuffix(t, "ep"):
		e, err := strconv.ParseFloat(strings.TrimSuffix(t, "ep"), 64)
		if err != nil || e < 0 || math.IsInf(e, 0) || math.IsNaN(e) {
			return Length{}, fmt.Errorf("training: length %q: want a number of epochs such as \"5ep\"", s)
		}
		return Length{Epochs: e}, nil
	default:
		n, err := strconv.Atoi(strings.TrimSuffix(t, "it"))
		if err != nil || n < 0 {
			return Length{}, fmt.Errorf("training: length %q: want steps such as \"2000it\" or epochs such as \"5ep\"", s)
		}
		return Length{Steps: n}, nil
	}
}

// MustParseLength is [ParseLength] for literals in code; it panics on a malformed length.
func MustParseLength(s string) Length {
	l, err := ParseLength(s)
	if err != nil {
		panic(err)
	}
	return l
}

// StepsFor converts the length to optimizer steps given the steps in one epoch (rounding fractional
// epochs to the nearest step).
func (l Length) StepsFor(stepsPerEpoch int) int {
	if l.Epochs != 0 {
		return int(math.Round(l.Epochs * float64(stepsPerEpoch)))
	}
	return l.Steps
}

// String writes the length back in the form ParseLength reads.
func (l Length) String() string {
	if l.Epochs != 0 {
		return strconv.FormatFloat(l.Epochs, 'g', -1, 64) + "ep"
	}
	return strconv.Itoa(l.Steps) + "it"
}

// MarshalText implements encoding.TextMarshaler, so configurations serialize as "5ep".
func (l Length) MarshalText() ([]byte, error) { return []byte(l.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (l *Length) UnmarshalText(b []byte) error {
	v, err := ParseLength(string(b))
	if err != nil {
		return err
	}
	*l = v
	return nil
}
