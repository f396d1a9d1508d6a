#!/usr/bin/env bash
# What masks cost in training: LeNet-300-100 on MNIST (Adam 1.2e-3, batch 60) with the training
# driver, a dense session and a masked one (80% pruned, masks re-applied after every step) trained
# in alternating whole epochs in one process (the issue's bar: masked at most 1.05x dense).
#
#   scripts/bench-masked-training.sh              # 3 rounds of one dense and one masked epoch
#   ROUNDS=5 BLOCK=500it scripts/bench-masked-training.sh
set -euo pipefail
cd "$(dirname "$0")/.."
echo "# $(date -u +%FT%TZ) $(nproc) CPUs, $(go version | cut -d' ' -f3), load: $(cut -d' ' -f1-3 /proc/loadavg)"
GOMLX_BACKEND=${GOMLX_BACKEND:-go} PRUNELAB_BENCH_BLOCK=${BLOCK:-1ep} \
	go test -run '^$' -bench 'MaskedTraining' -benchtime "${ROUNDS:-3}x" -timeout 2h ./experiment/ |
	grep -E '^Benchmark|^cpu|^ok|FAIL'
echo "# load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
