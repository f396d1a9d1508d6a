package datasets_test

import (
	"errors"
	"fmt"
	"io"
	"log"

	"github.com/prunelab/prunelab/datasets"
)

// Load MNIST, wherever it is found first (here usually the Go module), and hold out the
// Lottery Ticket validation set.
func ExampleLoad() {
	data, err := datasets.Load("mnist", datasets.Options{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(data.Train.N, data.Test.N, data.Train.Height, data.Train.Width, data.Train.Channels)
	train, val, err := data.Train.Split(5000, 0)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(train.Name, train.N, val.Name, val.N)
	// Output:
	// 60000 10000 28 28 1
	// mnist-train 55000 mnist-validation 5000
}

func ExampleNewBatches() {
	// Ten 2×2 gray images, image i filled with byte 25*i, label i.
	im := &datasets.Images{Name: "toy", N: 10, Height: 2, Width: 2, Channels: 1, NumClasses: 10}
	for i := range 10 {
		im.Pixels = append(im.Pixels, byte(25*i), byte(25*i), byte(25*i), byte(25*i))
		im.Labels = append(im.Labels, byte(i))
	}
	batches, err := datasets.NewBatches(im, datasets.BatchConfig{BatchSize: 4, Flatten: true})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("steps per epoch:", batches.Steps())
	for {
		_, inputs, labels, err := batches.Yield()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(inputs[0].Shape(), labels[0].Shape(), labels[0].Value())
	}
	// Output:
	// steps per epoch: 3
	// (Float32)[4 4] (Int32)[4 1] [[0] [1] [2] [3]]
	// (Float32)[4 4] (Int32)[4 1] [[4] [5] [6] [7]]
	// (Float32)[2 4] (Int32)[2 1] [[8] [9]]
}

func ExampleStandardNormalization() {
	for _, name := range datasets.Names() {
		norm, err := datasets.StandardNormalization(name)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s: %v\n", name, norm)
	}
	fmt.Println(datasets.ScaleTo01())
	// Output:
	// cifar10: mean [0.4914 0.4822 0.4465] std [0.247 0.2435 0.2616]
	// fashion-mnist: mean [0.286] std [0.353]
	// mnist: mean [0.1307] std [0.3081]
	// scale to [0,1]
}

func ExampleLoad_unknownName() {
	_, err := datasets.Load("imagenet", datasets.Options{})
	fmt.Println(errors.Is(err, datasets.ErrUnknownDataset))
	fmt.Println(err)
	// Output:
	// true
	// datasets: "imagenet": unknown dataset; known names: cifar10, fashion-mnist, mnist
}
