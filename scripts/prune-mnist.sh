#!/usr/bin/env bash
# The pruning accuracy bars of LeNet-300-100 on MNIST (Adam 1.2e-3, batch 60, 5,000 training
# images held out for validation), through the CLI so that the commands are the record:
#   1. 3 dense epochs, one-shot 80% global magnitude pruning, 1 epoch of fine-tuning: >= 98.0%;
#   2. gradual (polynomial, Zhu & Gupta) global magnitude pruning to 95% within 10 epochs in all
#      (the same 3 dense epochs, then 7 epochs pruning from step 0 to epoch 4 every 100 steps and
#      fine-tuning to the end): >= 97.5%.
# The dense run is trained once (runs/train-lenet-300-100-<hash>) and reused by both.
#
#   scripts/prune-mnist.sh [OUT_DIR]       # default runs; about 10 minutes on 2 cores (pure Go)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-runs}
bin=$(mktemp -d)/prunelab
trap 'rm -rf "$(dirname "$bin")"' EXIT
go build -o "$bin" ./cmd/prunelab
export GOMLX_BACKEND=${GOMLX_BACKEND:-go}
echo "# $(date -u +%FT%TZ) $(nproc) CPUs, load: $(cut -d' ' -f1-3 /proc/loadavg)"
set -x
"$bin" prune -out "$out" -progress=false -dense 3ep -schedule oneshot -sparsity 0.8 -allocation global -finetune 1ep
"$bin" prune -out "$out" -progress=false -dense 3ep -schedule polynomial -sparsity 0.95 -allocation global \
	-finetune 7ep -end 4ep -frequency 100it
