package datasets

import "fmt"

// Normalization maps a pixel byte p of channel c to the float32 (p/255 - Mean[c]) / Std[c].
// Mean and Std are per channel, in units of the [0,1]-scaled pixel; a slice of length 1 applies
// to every channel, and an empty one means mean 0 or standard deviation 1. The zero value
// therefore scales pixels to [0,1].
type Normalization struct {
	Mean, Std []float32
}

// ScaleTo01 returns the Normalization that maps pixels to [0,1]: p/255. It is the zero value.
func ScaleTo01() Normalization { return Normalization{} }

// StandardNormalization returns the per-channel mean and standard deviation of a data set's
// training images, for name as accepted by [Load]: MNIST 0.1307 and 0.3081, Fashion-MNIST 0.2860
// and 0.3530, CIFAR-10 (0.4914, 0.4822, 0.4465) and (0.2470, 0.2435, 0.2616). Each call returns
// fresh slices. An unknown name gives an error wrapping [ErrUnknownDataset].
func StandardNormalization(name string) (Normalization, error) {
	spec, err := specByName(name)
	if err != nil {
		return Normalization{}, err
	}
	return Normalization{
		Mean: append([]float32(nil), spec.mean...),
		Std:  append([]float32(nil), spec.std...),
	}, nil
}

// Validate checks that the slices fit images with the given number of channels and that every
// standard deviation is positive.
func (n Normalization) Validate(channels int) error {
	for _, s := range []struct {
		name   string
		values []float32
	}{{"Mean", n.Mean}, {"Std", n.Std}} {
		if l := len(s.values); l > 1 && l != channels {
			return fmt.Errorf("datasets: normalization %s has %d values for %d channels", s.name, l, channels)
		}
	}
	for i, s := range n.Std {
		if !(s > 0) {
			return fmt.Errorf("datasets: normalization Std[%d] = %g, want > 0", i, s)
		}
	}
	return nil
}

// Apply returns the normalized value of pixel p of the given channel.
// It panics if channel is beyond the lengths of Mean or Std that are longer than 1.
func (n Normalization) Apply(p uint8, channel int) float32 {
	return (float32(p)/255 - pick(n.Mean, channel, 0)) / pick(n.Std, channel, 1)
}

// table returns the normalized value of every byte for every channel: table[c][p].
func (n Normalization) table(channels int) [][256]float32 {
	t := make([][256]float32, channels)
	for c := range channels {
		for p := range 256 {
			t[c][p] = n.Apply(uint8(p), c)
		}
	}
	return t
}

// String formats the normalization, e.g. "mean [0.1307] std [0.3081]" or "scale to [0,1]".
func (n Normalization) String() string {
	if len(n.Mean) == 0 && len(n.Std) == 0 {
		return "scale to [0,1]"
	}
	return fmt.Sprintf("mean %v std %v", n.Mean, n.Std)
}

func pick(values []float32, i int, zero float32) float32 {
	switch len(values) {
	case 0:
		return zero
	case 1:
		return values[0]
	default:
		return values[i]
	}
}
