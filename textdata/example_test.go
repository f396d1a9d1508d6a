package textdata_test

import (
	"fmt"

	"github.com/prunelab/prunelab/textdata"
)

func ExampleUnigram() {
	u := textdata.Unigram([]byte("aab"))
	fmt.Printf("p(a) = %.5f = 3/259\n", u.Prob('a'))
	fmt.Println(u.CrossEntropy([]byte("ab")))
	// Output:
	// p(a) = 0.01158 = 3/259
	// 6.724 bits/byte, perplexity 105.74 over 2 bytes
}

func ExampleSequentialWindows() {
	for _, w := range textdata.SequentialWindows([]byte("package main\n"), 4) {
		fmt.Printf("inputs %q → targets %q\n", w[:4], w[1:])
	}
	// Output:
	// inputs "pack" → targets "acka"
	// inputs "age " → targets "ge m"
	// inputs "main" → targets "ain\n"
}
