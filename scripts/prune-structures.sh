#!/usr/bin/env bash
# Masks hold under Adam for every structure: LeNet-300-100 on MNIST, 3 dense epochs, pruned with
# each structure, then one epoch of fine-tuning with Adam; each run reports how many of its
# masked-out weights are non-zero afterwards ("masks held N of M"; N must be 0). Neuron pruning
# skips the output layer, whose neurons are the classes.
#
#   scripts/prune-structures.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-runs}
bin=$(mktemp -d)/prunelab
trap 'rm -rf "$(dirname "$bin")"' EXIT
go build -o "$bin" ./cmd/prunelab
export GOMLX_BACKEND=${GOMLX_BACKEND:-go}
run() {
	echo "== prunelab prune $*"
	"$bin" prune -out "$out" -progress=false -finetune 1ep "$@" | grep -E "^  (test accuracy|sparsity|masks held)"
}
run -structure unstructured -allocation global -sparsity 0.8
run -structure out_channels -criterion l2norm -allocation layerwise -sparsity 0.5 -skip /fc2/dense/weights
run -structure in_channels -criterion l1norm -allocation layerwise -sparsity 0.5
run -structure 2:4
run -structure 4:8 -skip /fc1/dense/weights,/fc2/dense/weights
run -structure block4x1 -allocation layerwise -sparsity 0.75
