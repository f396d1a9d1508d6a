#!/usr/bin/env bash
# Benchmark, one run: torchvision ResNet-18, ResNet-50 and MobileNet-V2 (MODELS; PyTorch 1.13's torch.onnx.export) dense and
# compacted by Prunelab at 30% and 50% channel sparsity (`prunelab compact -onnx`), timed in ONNX
# Runtime 1.30 (the peer: 1 and 2 threads, batch 1 and 32, 3×SIZE×SIZE images; MODELS=vit, the
# PyTorch vit-tiny whose heads and MLP neurons are removed, on 1×28×28 images), and in Prunelab's
# pure-Go inference (batch 1, BenchmarkInference). Prints a markdown table: measured speedups against
# the theoretical ones (ratio of multiply-accumulates), and Prunelab's time against ONNX Runtime's.
#
#   scripts/bench-onnx.sh                      # SIZE=224, ROUND_TO=8, results in /tmp/prunelab-bench-onnx
#   SIZE=64 RUNS1=5 RUNS32=2 scripts/bench-onnx.sh   # a quick look
#
# Needs python3-torch, python3-torchvision, python3-onnx (apt) and scripts/ort's onnxruntime-node
# (cd scripts/ort && npm ci --ignore-scripts). Run it on a quiet machine: ratios, not absolute times.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-/tmp/prunelab-bench-onnx}
size=${SIZE:-224}
runs1=${RUNS1:-20}
runs32=${RUNS32:-5}
models=${MODELS:-resnet18 resnet50 mobilenet_v2}
round=${ROUND_TO:-8} # channels kept per family: a multiple of this (8: ONNX Runtime's NCHWc blocks)
# shape is a model's example shape (no batch).
shape() { if [ "$1" = vit ]; then echo 1,28,28; else echo "3,$size,$size"; fi; }
mkdir -p "$out/models" "$out/torch"
rm -f "$out/ort.jsonl" "$out/compact.txt"
export GOMLX_BACKEND=${GOMLX_BACKEND:-go}

go build -o "$out/prunelab" ./cmd/prunelab
/usr/bin/python3 scripts/peers/torch_onnx.py --out "$out/torch" --models "$(echo $models | tr ' ' ,)" --size 64 >/dev/null
rm -f "$out"/models/*.onnx
for m in $models; do
	cp "$out/torch/$m.onnx" "$out/models/$m-dense.onnx"
	for s in 30 50; do
		echo "== $m $s%" >>"$out/compact.txt"
		"$out/prunelab" compact -onnx "$out/torch/$m.onnx" -prune "0.$s" -input-shape "$(shape "$m")" -round-to "$round" \
			-o "$out/models/$m-compact$s.onnx" >>"$out/compact.txt" 2>&1
	done
done

for f in "$out"/models/*.onnx; do
	m=$(basename "$f" .onnx)
	m=${m%-*}
	for threads in 1 2; do
		node scripts/ort/run.js --model "$f" --shape "1,$(shape "$m")" --bench "$runs1" --threads "$threads" >>"$out/ort.jsonl"
		node scripts/ort/run.js --model "$f" --shape "32,$(shape "$m")" --bench "$runs32" --threads "$threads" >>"$out/ort.jsonl"
	done
done

PRUNELAB_ONNX_BENCH="$out/models" PRUNELAB_ONNX_BENCH_SIZE=$size \
	go test ./onnxmodel -run '^$' -bench Inference -benchtime "${RUNS_GO:-5}x" -count 1 >"$out/go.txt"

/usr/bin/python3 - "$out" "$size" $models <<'EOF'
import json, os, re, sys
out, size, models = sys.argv[1], sys.argv[2], sys.argv[3:]
ort = {}
for line in open(os.path.join(out, "ort.jsonl")):
    r = json.loads(line)
    ort[(os.path.basename(r["model"])[:-5], r["shape"][0], r["threads"])] = r["median_ms"]
theory, params = {}, {}
cur = None
for line in open(os.path.join(out, "compact.txt")):
    if line.startswith("== "):
        m, s = line.split()[1:3]
        cur = f"{m}-compact{s.rstrip('%')}"
    if "theoretical speedup" in line:
        theory[cur] = float(re.search(r"theoretical speedup ([0-9.]+)", line).group(1))
    if "parameters" in line and "→" in line:
        params[cur] = line.strip()
gotimes = {}
for line in open(os.path.join(out, "go.txt")):
    mm = re.match(r"BenchmarkInference/(\S+)\.onnx-\d+\s+\d+\s+(\d+) ns/op", line)
    if mm:
        gotimes[mm.group(1)] = int(mm.group(2)) / 1e6
ver = json.loads(open(os.path.join(out, "ort.jsonl")).readline())["ort"]
shapes = f"{size}x{size} images" + (" (vit: 1x28x28)" if "vit" in models else "")
print(f"ONNX Runtime {ver}, {shapes}, kept channels rounded to multiples of {os.environ.get('ROUND_TO', '8')}, median ms; speedup = dense time / compacted time "
      f"(fraction of the theoretical speedup in parentheses)\n")
print("| model | theoretical | ORT b1 t1 | ORT b1 t2 | ORT b32 t1 | ORT b32 t2 | Prunelab pure Go b1 | Go / ORT b1 t2 |")
print("|---|---|---|---|---|---|---|---|")
for m in models:
    for v in ["dense", "compact30", "compact50"]:
        name = f"{m}-{v}"
        th = theory.get(name, 1.0)
        cells = []
        for b, t in [(1, 1), (1, 2), (32, 1), (32, 2)]:
            ms = ort[(name, b, t)]
            if v == "dense":
                cells.append(f"{ms:.1f}")
            else:
                sp = ort[(f"{m}-dense", b, t)] / ms
                cells.append(f"{ms:.1f}: {sp:.2f}× ({sp / th:.2f})")
        g = gotimes.get(name)
        gcell = f"{g:.0f}" if g else "-"
        if g and v != "dense":
            gsp = gotimes[f"{m}-dense"] / g
            gcell += f": {gsp:.2f}× ({gsp / th:.2f})"
        ratio = f"{g / ort[(name, 1, 2)]:.1f}×" if g else "-"
        thcell = "1" if v == "dense" else f"{th:.2f}×"
        print(f"| {name} | {thcell} | " + " | ".join(cells) + f" | {gcell} | {ratio} |")
print()
for k, v in params.items():
    print(f"- {k}: {v}")
EOF
