package training

import (
	"testing"

	"github.com/prunelab/prunelab/datasets"
	"github.com/prunelab/prunelab/internal/gomlxfix"
	"github.com/prunelab/prunelab/models"
)

// BenchmarkTrainStep measures one LeNet-300-100 training step (batch 60, Adam) on MNIST, with GoMLX's
// stock DotGeneral gradient and with the fast one that NewSession installs:
//
//	go test -run '^$' -bench TrainStep -benchtime 200x ./training/
func BenchmarkTrainStep(b *testing.B) {
	data, err := datasets.Load("mnist", datasets.Options{})
	if err != nil {
		b.Skipf("MNIST unavailable: %v", err)
	}
	for _, variant := range []string{"stock", "fast"} {
		b.Run(variant, func(b *testing.B) {
			s, err := NewSession(Config{Model: mustLeNet(b), Seed: 1})
			if err != nil {
				b.Fatal(err)
			}
			if variant == "stock" {
				gomlxfix.RestoreStockDotGradient()
				defer gomlxfix.InstallFastDotGradient()
			}
			if err := s.SetTrainData(data.Train.Subset(6000)); err != nil {
				b.Fatal(err)
			}
			// Compile outside the timed region.
			if _, err := s.Train(Length{Steps: 2}); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			if _, err := s.Train(Length{Steps: b.N}); err != nil {
				b.Fatal(err)
			}
		})
	}
}

func mustLeNet(b *testing.B) models.Model {
	m, err := models.ByName("lenet-300-100")
	if err != nil {
		b.Fatal(err)
	}
	return m
}
