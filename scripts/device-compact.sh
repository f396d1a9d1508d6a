#!/usr/bin/env bash
# Runs on a lent GPU machine (see the device tool's README): issue 8's compaction checks on XLA:CUDA.
#   1. the compaction tests (compacted == masked within 1e-5 for LeNet-300-100, LeNet-5, Conv-4 and
#      ResNet-20 at 30/50/70%, group pruning) with XLA's native convolutions, poolings and batch norm;
#   2. BenchmarkCompacted: measured inference speedup of compacted models vs the theoretical (MACs)
#      one, batch 1 and 256.
# Prepare here first (the device machine reaches nothing outside itself):
#
#   go test -c -o bin/compact.test ./compact/
#
# then run "scripts/device-compact.sh" there with bin/ carried. Output goes to stdout and $OUT.
# TF32 is turned off (NVIDIA_TF32_OVERRIDE=0): with it, float32 matrix products on the H100 round to
# 10-bit mantissas and no two graphs agree to 1e-5, compacted or not.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
site=$(python3 -c 'import site; print(site.getsitepackages()[0])')
plugin=$(ls "$site"/jax_plugins/*/xla_cuda_plugin.so | head -1)
cudadir=$(ls -d "$site"/nvidia/cu1* 2>/dev/null | head -1)
export GOMLX_BACKEND="xla:$plugin" GOMLX_NO_AUTO_INSTALL=1 GOPJRT_CUDA_CHECKS=0 NVIDIA_TF32_OVERRIDE=0
export XLA_FLAGS="--xla_gpu_cuda_data_dir=$cudadir"
export LD_LIBRARY_PATH="$(ls -d "$site"/nvidia/*/lib | paste -sd:)${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
cd compact # tests run from their package directory
timeout 240 ../bin/compact.test -test.run 'TestCompactMatchesMasked|TestGroupMasks|TestCompactNativeOps' -test.v 2>&1 |
	grep -E '^(---|===|ok|FAIL|PASS)|compact_test.go' | tee "$OUT/compact-tests.txt"
PRUNELAB_BENCH_BATCHES=1,256 timeout 300 ../bin/compact.test -test.run '^$' -test.bench Compacted \
	-test.benchtime 20x 2>&1 | tee "$OUT/compact-bench.txt"
