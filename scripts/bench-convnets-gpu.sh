#!/usr/bin/env bash
# Benchmark on an NVIDIA GPU: LeNet-5 and Conv-4 (or the models given) training steps and inference on
# GoMLX's XLA backend with CUDA, beside the PyTorch peers on CUDA, in one run; then a short training
# check of every convolutional model on XLA (TestCIFARConvNetsLearn).
#
#   scripts/bench-convnets-gpu.sh [MODEL...]          # default: lenet-5 conv-4
#
# It uses the CUDA PJRT plugin that ships with JAX (jax-cuda13-pjrt) in python3's site-packages, as
# the README describes. Without a Go toolchain, set MODELS_TEST to a test binary built elsewhere with
# `go test -c -o models.test ./models/`. STEPS sets the timed steps (default 200).
set -euo pipefail
cd "$(dirname "$0")/.."
models=("$@")
[ ${#models[@]} -gt 0 ] || models=(lenet-5 conv-4)
steps=${STEPS:-200}
bin=${MODELS_TEST:-}
if [ -z "$bin" ]; then
	bin=$(mktemp -d)/models.test
	go test -c -o "$bin" ./models/
fi
bin=$(realpath "$bin")

site=$(python3 -c 'import site; print(site.getsitepackages()[0])')
plugin=$(ls "$site"/jax_plugins/xla_cuda*/xla_cuda_plugin.so | head -1)
cuda=$(dirname "$(ls -d "$site"/nvidia/cu*/ | head -1)/x")
export GOMLX_BACKEND=xla:$plugin GOMLX_NO_AUTO_INSTALL=1 GOPJRT_CUDA_CHECKS=0
export XLA_FLAGS=--xla_gpu_cuda_data_dir=$cuda
LD_LIBRARY_PATH=$(ls -d "$site"/nvidia/*/lib | paste -sd:)${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export LD_LIBRARY_PATH
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader || true

for m in "${models[@]}"; do
	case $m in
	lenet-5) peer=(torch_lenet5.py) ;;
	conv-2 | conv-4 | conv-6) peer=(torch_conv.py --model "conv${m#conv-}") ;;
	resnet-20) peer=(torch_conv.py --model resnet20) ;;
	*) echo "unknown model $m" >&2; exit 2 ;;
	esac
	(cd models && PRUNELAB_BENCH_MODELS=$m "$bin" -test.run '^$' -test.bench "ConvNets/$m/" -test.benchtime "${steps}x") | grep -E 'Benchmark|ok|FAIL'
	(cd scripts/peers && python3 "${peer[@]}" --device cuda --steps "$steps")
done
(cd models && "$bin" -test.run 'TestCIFARConvNetsLearn' -test.v) | grep -E 'loss|PASS|FAIL|ok'
