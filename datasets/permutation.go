package datasets

import (
	"math/bits"
	"math/rand/v2"
)

// permutation returns a permutation of 0..n-1 drawn by Fisher–Yates from a PCG source seeded
// with (seed1, seed2). The algorithm is written out here rather than taken from math/rand/v2's
// Perm, whose draws are not promised to stay the same across Go releases: splits and epoch orders
// must not change under a published experiment.
func permutation(n int, seed1, seed2 uint64) []int {
	src := rand.NewPCG(seed1, seed2)
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	for i := n - 1; i > 0; i-- {
		j := int(uniform(src, uint64(i+1)))
		p[i], p[j] = p[j], p[i]
	}
	return p
}

// uniform returns a uniform value in [0, n), n > 0, by Lemire's multiply-and-reject method.
func uniform(src *rand.PCG, n uint64) uint64 {
	hi, lo := bits.Mul64(src.Uint64(), n)
	if lo < n {
		threshold := -n % n
		for lo < threshold {
			hi, lo = bits.Mul64(src.Uint64(), n)
		}
	}
	return hi
}
