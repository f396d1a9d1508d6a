#!/usr/bin/env bash
# Benchmark: Prunelab's convolutional models on GoMLX's pure-Go backend vs the PyTorch peers
# (scripts/peers/torch_lenet5.py, torch_conv.py), in the same run on this machine: the median training
# step (batch 60, Adam) and the median inference pass (batch 60) of each model, and the ratios.
#
#   scripts/bench-convnets.sh                      # all models: lenet-5 conv-2 conv-4 conv-6 resnet-20
#   scripts/bench-convnets.sh lenet-5 conv-2       # some of them
#   scripts/bench-convnets.sh vit-tiny             # the Vision Transformer (scripts/peers/torch_vit.py)
#
# PyTorch runs with 1 and with 2 threads (on a busy machine its 2 OpenMP threads can be much slower
# than 1); the ratios use the faster of the two. Needs /usr/bin/python3 with torch (apt-get install -y
# python3-torch).
#
# Environment: GOMLX_BACKEND (default go:ops_sequential: GoMLX v0.26.0's pure-Go backend can
# deadlock running independent matrix products in parallel, see models/convnets_helpers_test.go),
# STEPS (timed steps per model; the default depends on the model), PYTHON (default /usr/bin/python3).
# Besides wall-clock medians, the Go benchmark reports CPU time per step (cpu-ms/step), steadier on
# a shared machine.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOMLX_BACKEND=${GOMLX_BACKEND:-go:ops_sequential}
python=${PYTHON:-/usr/bin/python3}
models=("$@")
if [ ${#models[@]} -eq 0 ]; then
	models=(lenet-5 conv-2 conv-4 conv-6 resnet-20)
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
go test -c -o "$out/models.test" ./models/

for m in "${models[@]}"; do
	case $m in
	lenet-5) steps=${STEPS:-40} peer=(scripts/peers/torch_lenet5.py) ;;
	conv-2) steps=${STEPS:-8} peer=(scripts/peers/torch_conv.py --model conv2) ;;
	conv-4) steps=${STEPS:-5} peer=(scripts/peers/torch_conv.py --model conv4) ;;
	conv-6) steps=${STEPS:-5} peer=(scripts/peers/torch_conv.py --model conv6) ;;
	resnet-20) steps=${STEPS:-5} peer=(scripts/peers/torch_conv.py --model resnet20) ;;
	vit-tiny) steps=${STEPS:-20} peer=(scripts/peers/torch_vit.py) ;;
	*) echo "unknown model $m (known: lenet-5 conv-2 conv-4 conv-6 resnet-20 vit-tiny)" >&2; exit 2 ;;
	esac
	echo "== $m: $steps steps each side" >&2
	(cd models && PRUNELAB_BENCH_MODELS=$m "$out/models.test" -test.run '^$' -test.bench "ConvNets/$m/" \
		-test.benchtime "${steps}x") | tee -a "$out/go.txt" | grep Benchmark >&2
	for threads in 1 2; do
		(cd scripts/peers && "$python" "$(basename "${peer[0]}")" "${peer[@]:1}" --threads "$threads" --steps "$steps") |
			tee -a "$out/torch.jsonl" >&2
	done
done

"$python" - "$out" "${models[@]}" <<'PY'
import json, re, sys
out, models = sys.argv[1], sys.argv[2:]
go, gocpu = {}, {}
for line in open(out + "/go.txt"):
    m = re.match(r"BenchmarkConvNets/([\w-]+)/(train|infer)\S*\s+\d+\s+(.*)", line)
    if m:
        metrics = {unit: float(v) for v, unit in re.findall(r"([\d.]+) (\S+)", m.group(3))}
        kind = "step" if m.group(2) == "train" else "infer"
        go[(m.group(1), m.group(2))] = metrics.get("ms/" + kind)
        gocpu[(m.group(1), m.group(2))] = metrics.get("cpu-ms/" + kind)
torch = {}
for line in open(out + "/torch.jsonl"):
    r = json.loads(line)
    torch.setdefault(r["model"], []).append(r)
peer_name = {"lenet-5": "lenet5", "conv-2": "conv2", "conv-4": "conv4", "conv-6": "conv6", "resnet-20": "resnet20",
             "vit-tiny": "vittiny"}
first = next(iter(torch.values()))[0]
print(f"pure-Go backend (GoMLX SimpleGo) vs PyTorch {first['torch']} CPU; batch 60; medians in ms")
print(f"{'model':10} {'go step':>9} {'(cpu)':>9} {'torch 1t':>9} {'torch 2t':>9} {'ratio':>6} | "
      f"{'go infer':>9} {'(cpu)':>9} {'torch 1t':>9} {'torch 2t':>9} {'ratio':>6}")
fmt = lambda v: f"{v:9.1f}" if v is not None else f"{'-':>9}"
ratio = lambda a, b: f"{a / b:6.2f}" if a and b else f"{'-':>6}"
for m in models:
    runs = {r["threads"]: r for r in torch.get(peer_name[m], [])}
    t1, t2 = runs.get(1), runs.get(2)
    step = min((r["step_ms"] for r in runs.values()), default=None)
    infer = min((r["infer_ms"] for r in runs.values()), default=None)
    gs, gi = go.get((m, "train")), go.get((m, "infer"))
    print(f"{m:10} {fmt(gs)} {fmt(gocpu.get((m, 'train')))} {fmt(t1 and t1['step_ms'])} {fmt(t2 and t2['step_ms'])} {ratio(gs, step)} | "
          f"{fmt(gi)} {fmt(gocpu.get((m, 'infer')))} {fmt(t1 and t1['infer_ms'])} {fmt(t2 and t2['infer_ms'])} {ratio(gi, infer)}")
print("ratio = Prunelab's wall-clock median / PyTorch's faster thread count; (cpu) = Prunelab's CPU time per step,")
print("comparable with PyTorch's 1-thread time on a busy machine. Targets (issue 4): lenet-5 step <= 4, conv-2 step <= 3")
PY
