#!/usr/bin/env bash
# Benchmark: inference speed of compacted models (issue 8), with the PyTorch peer in the same run.
# Runs BenchmarkCompacted (compact/bench_test.go): each model group-pruned at 50% and 70% of its
# channels and compacted, both programs folded (program.Fold), the masked original and the compacted
# model run alternately on the same batch. Prints the measured speedup, the theoretical one (MACs
# ratio) and their ratio, the efficiency (the issue asks for >= 0.8). Then scripts/peers/torch_compact.py
# runs the same architectures at full and at the compacted widths on PyTorch's CPU kernels (2 threads),
# for comparison: how much of the theoretical speedup a mature CPU library gets from narrower layers.
#
#   scripts/bench-compact.sh [BENCHTIME] [MODELS] [BATCHES]
#   scripts/bench-compact.sh 20x lenet-300-100,lenet-5 1,256
#
# GOMLX_BACKEND selects the backend (default go); scripts/device-compact.sh runs it on XLA:CUDA.
# PYTHON (default /usr/bin/python3, with torch) runs the peer; PEER=0 skips it.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOMLX_BACKEND=${GOMLX_BACKEND:-go}
models=${2:-lenet-300-100,lenet-5,conv-4,resnet-20}
batches=${3:-1,256}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
PRUNELAB_BENCH_MODELS=$models PRUNELAB_BENCH_BATCHES=$batches \
	go test -run '^$' -bench Compacted -benchtime "${1:-10x}" -timeout 3h ./compact/ | tee "$out/go.txt" >&2
peer_models=$(echo "$models" | tr , '\n' | grep -v lenet-300-100 | paste -sd, || true)
if [ "${PEER:-1}" != 0 ] && [ -n "$peer_models" ]; then
	(cd scripts/peers && "${PYTHON:-/usr/bin/python3}" torch_compact.py --models "$peer_models" --batches "$batches" \
		--steps 20) | tee "$out/torch.txt" >&2
else
	: >"$out/torch.txt"
fi
python3 - "$out/go.txt" "$out/torch.txt" <<'EOF'
import json, re, sys
go, torch = {}, {}
for line in open(sys.argv[1]):
    m = re.match(r"BenchmarkCompacted/([\w-]+)/sparsity=([\d.]+)/batch=(\d+)", line)
    if m:
        v = dict((k, float(x)) for x, k in re.findall(r"([\d.]+) (\S+)", line))
        go[(m[1], float(m[2]), int(m[3]))] = v
for line in open(sys.argv[2]):
    if line.startswith("{"):
        d = json.loads(line)
        torch[(d["model"], d["sparsity"], d["batch"])] = d
print("pure-Go GoMLX (masked vs compacted) and PyTorch CPU (full vs narrow width); medians in ms; eff = speedup / theoretical")
print("%-14s %5s %5s | %9s %9s %7s %7s %5s | %9s %9s %7s %7s %5s" % (
    "model", "pruned", "batch", "masked", "compact", "speedup", "theory", "eff",
    "torch", "narrow", "speedup", "theory", "eff"))
for key in sorted(go, key=lambda k: (list(dict.fromkeys(k[0] for k in go)).index(k[0]), k[1], k[2])):
    v, t = go[key], torch.get(key)
    row = "%-14s %5.0f%% %5d | %9.2f %9.2f %6.2fx %6.2fx %5.2f |" % (
        key[0], 100 * key[1], key[2], v["us/original"] / 1e3, v["us/compacted"] / 1e3, v["speedup"],
        v["theoretical"], v["efficiency"])
    if t:
        row += " %9.2f %9.2f %6.2fx %6.2fx %5.2f" % (t["full_ms"], t["narrow_ms"], t["speedup"], t["theoretical"],
                                                    t["efficiency"])
    print(row)
EOF
