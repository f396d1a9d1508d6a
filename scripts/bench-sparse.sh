#!/usr/bin/env bash
# Benchmark: sparse inference of LeNet-300-100 on the pure-Go side (issue 8). Runs
# BenchmarkLeNet300100 (sparse/bench_test.go) once and prints, per sparsity and batch size, the time
# of each path and its speedup over GoMLX's dense pure-Go execution of the same model and over plain
# dense Go loops:
#   gomlx     GoMLX SimpleGo, dense (the model as Prunelab runs it)
#   go-plain  three plain dense Go matmul loops (no zero skipping)
#   go-dense  the Go executor, dense kernels (skipping zero inputs)
#   go-csr    the Go executor, CSR kernels
#   go-auto   the Go executor, kernels chosen by density (CSR at <= 30%)
#
#   scripts/bench-sparse.sh [BENCHTIME]      # default 300x
set -euo pipefail
cd "$(dirname "$0")/.."
benchtime=${1:-300x}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
GOMLX_BACKEND=go go test -run '^$' -bench 'LeNet300100' -benchtime "$benchtime" ./sparse/ | tee "$out" >&2
python3 - "$out" <<'PY'
import re, sys, collections
rows = collections.defaultdict(dict)
for line in open(sys.argv[1]):
    m = re.match(r"BenchmarkLeNet300100/sparsity=([\d.]+)/batch=(\d+)/([\w-]+?)-\d+\s+\d+\s+([\d.]+) ns/op", line)
    if m:
        rows[(m[1], int(m[2]))][m[3]] = float(m[4])
print(f"{'sparsity':>8} {'batch':>5} {'path':>9} {'time':>12} {'vs gomlx':>9} {'vs go-plain':>11} {'vs go-dense':>11}")
for (s, b), r in sorted(rows.items()):
    for name, ns in r.items():
        print(f"{s:>8} {b:>5} {name:>9} {ns/1e3:>9.1f} µs {r['gomlx']/ns:>8.1f}x {r['go-plain']/ns:>10.1f}x {r['go-dense']/ns:>10.1f}x")
PY
