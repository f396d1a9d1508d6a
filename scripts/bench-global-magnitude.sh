#!/usr/bin/env bash
# Global magnitude pruning of 100M float32 weights: Prunelab against PyTorch's kthvalue on the
# same data, in one run (the issue's bar: at most 2 s, and at least as fast as kthvalue).
#
#   scripts/bench-global-magnitude.sh            # 3 timed iterations each, twice, interleaved
#   COUNT=5 ROUNDS=1 TOPK=1 scripts/bench-global-magnitude.sh
#
# Prunelab: BenchmarkGlobalMagnitude100M (pruning/bench_test.go), ComputeMasks (select the 80M
# smallest |w| of four 5000x5000 variables and build the masks) and PruneOnce (that, plus writing
# the masks and zeroing the weights). PyTorch: scripts/peers/bench_kthvalue.py on the weights the
# Go benchmark wrote. Needs about 4 GB of memory and /usr/bin/python3 with torch and numpy.
set -euo pipefail
cd "$(dirname "$0")/.."
count=${COUNT:-3}
rounds=${ROUNDS:-2}
python=${PYTHON:-/usr/bin/python3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export PRUNELAB_BENCH_DATA="$tmp/weights.f32"
echo "# $(date -u +%FT%TZ) $(nproc) CPUs, $(go version | cut -d' ' -f3), load: $(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq "$rounds"); do
	echo "## round $round"
	GOMLX_BACKEND=go go test -run '^$' -bench 'GlobalMagnitude100M' -benchtime "${count}x" ./pruning/ |
		grep -E '^Benchmark|^cpu'
	"$python" scripts/peers/bench_kthvalue.py "$PRUNELAB_BENCH_DATA" --repeat "$count" ${TOPK:+--topk}
done
echo "# load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
