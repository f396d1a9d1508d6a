#!/usr/bin/env bash
# Benchmark: one-shot post-training pruning without fine-tuning (prunelab oneshot) of a trained model:
# test accuracy of the dense model and after magnitude (per output and layer-wise), Wanda and SparseGPT
# at 50% unstructured and at 2:4, mean ± standard deviation over calibration seeds 1, 2, 3 (the
# calibration images drawn; the magnitude methods read none and run once), and the seconds of
# calibration and pruning.
#
#   scripts/bench-oneshot.sh RUN_DIR [RUN_DIR...]   # "prunelab train" run directories (with checkpoint/)
#
# Environment: CALIBRATION (images, default 128), SKIP (layers left dense, comma-separated patterns,
# e.g. "/embed/**,/head/**"), TEST_LIMIT (test images evaluated, default all), GOMLX_BACKEND (default go).
set -euo pipefail
cd "$(dirname "$0")/.."
export GOMLX_BACKEND=${GOMLX_BACKEND:-go}
[ $# -gt 0 ] || { echo "usage: $0 TRAIN_RUN_DIR..." >&2; exit 2; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
go build -o "$out/prunelab" ./cmd/prunelab
skip=()
[ -z "${SKIP:-}" ] || skip=(-skip "$SKIP")
for run in "$@"; do
	for pattern in 0.5 2:4; do
		for method in magnitude magnitude-layer wanda sparsegpt; do
			seeds="1 2 3"
			case $method in magnitude*) seeds=1 ;; esac # no calibration data read: the same for every seed
			for seed in $seeds; do
				"$out/prunelab" oneshot -from "$run" -out "$out/runs" -method "$method" -pattern "$pattern" \
					-calibration "${CALIBRATION:-128}" -calibration-seed "$seed" -test-limit "${TEST_LIMIT:-0}" \
					-progress=false "${skip[@]}" >/dev/null
			done
		done
	done
done
python3 - "$out/runs" <<'PY'
import glob, json, statistics, sys
rows = {}
for f in glob.glob(sys.argv[1] + "/oneshot-*/result.json"):
    r = json.load(open(f))
    rows.setdefault((r["model"], r["dense_run"]), {}).setdefault((r["pattern"], r["method"]), []).append(r)
for (model, run), cells in sorted(rows.items()):
    any_r = next(iter(cells.values()))[0]
    print(f"{model} ({run}; {len(any_r['layers'])} layers pruned): dense test accuracy {100 * any_r['dense_test_accuracy']:.2f}%")
    print(f"  {'pattern':8} {'method':10} {'test accuracy (%)':>20} {'zeros':>7} {'seconds':>8}")
    for (pattern, method), rs in sorted(cells.items(), key=lambda kv: (kv[0][0], ["magnitude", "magnitude-layer", "wanda", "sparsegpt"].index(kv[0][1]))):
        acc = [100 * r["pruned_test_accuracy"] for r in rs]
        sd = statistics.stdev(acc) if len(acc) > 1 else 0
        secs = statistics.mean(r["calibration_seconds"] for r in rs)
        print(f"  {pattern:8} {method:10} {statistics.mean(acc):12.2f} ± {sd:5.2f} {100 * rs[0]['sparsity']:6.1f}% {secs:8.2f}")
PY
