#!/usr/bin/env bash
# Benchmark: inference speed of compacted models (issue 8). Runs BenchmarkCompacted
# (compact/bench_test.go): each model group-pruned at 50% and 70% of its channels and compacted, the
# masked original and the compacted model run alternately on the same batch. Prints the measured
# speedup, the theoretical one (MACs ratio) and their ratio (the issue asks for >= 0.8).
#
#   scripts/bench-compact.sh [BENCHTIME] [MODELS] [BATCHES]
#   scripts/bench-compact.sh 20x lenet-300-100,lenet-5 1,256
#
# GOMLX_BACKEND selects the backend (default go); scripts/device-compact.sh runs it on XLA:CUDA.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOMLX_BACKEND=${GOMLX_BACKEND:-go}
PRUNELAB_BENCH_MODELS=${2:-lenet-300-100,lenet-5,conv-4,resnet-20} PRUNELAB_BENCH_BATCHES=${3:-1,256} \
	go test -run '^$' -bench Compacted -benchtime "${1:-10x}" -timeout 3h ./compact/ |
	python3 -c '
import re, sys
cols = ("model", "sparsity", "batch", "original", "compacted", "speedup", "theory", "efficiency")
widths = (14, 8, 5, 12, 12, 8, 7, 10)
print(" ".join(c.rjust(w) for c, w in zip(cols, widths)))
for line in sys.stdin:
    sys.stderr.write(line)
    m = re.match(r"BenchmarkCompacted/([\w-]+)/sparsity=([\d.]+)/batch=(\d+)", line)
    if not m: continue
    v = dict((k, float(x)) for x, k in re.findall(r"([\d.]+) (\S+)", line))
    row = (m[1], m[2], m[3], "%.2f ms" % (v["us/original"] / 1e3), "%.2f ms" % (v["us/compacted"] / 1e3),
           "%.2fx" % v["speedup"], "%.2fx" % v["theoretical"], "%.2f" % v["efficiency"])
    print(" ".join(c.rjust(w) for c, w in zip(row, widths)))
'
