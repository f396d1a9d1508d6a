#!/usr/bin/env bash
# Executes every notebook in notebooks/ on the real GoNB kernel, headless, and checks that no cell
# failed and that each notebook showed the figures it promises (its metadata "prunelab.figures").
#
#   scripts/run-notebooks.sh                 # smoke budget, outputs into a temporary directory
#   PRUNELAB_BUDGET=full scripts/run-notebooks.sh --inplace   # full budget, outputs saved in the notebooks
#   scripts/run-notebooks.sh notebooks/01-quickstart.ipynb    # just one
#
# Needs the lab: scripts/install-lab.sh --apt installs it (CI does); this script reruns its user part
# (idempotent) so the kernel always points at this checkout.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
inplace=0
notebooks=()
for a in "$@"; do
	case "$a" in
	--inplace) inplace=1 ;;
	*) notebooks+=("$a") ;;
	esac
done
[ ${#notebooks[@]} -gt 0 ] || notebooks=(notebooks/*.ipynb)
export PRUNELAB_BUDGET=${PRUNELAB_BUDGET:-smoke}

scripts/install-lab.sh >/dev/null
export PATH="$(go env GOPATH)/bin:$HOME/.venvs/lab/bin:$PATH"

outdir=$(mktemp -d)
status=0
for nb in "${notebooks[@]}"; do
	echo "== $nb (budget $PRUNELAB_BUDGET)"
	start=$(date +%s)
	if [ $inplace = 1 ]; then
		target=$nb
		jupyter nbconvert --to notebook --execute --inplace --ExecutePreprocessor.timeout=10800 "$nb" 2>"$outdir/log" || {
			tail -30 "$outdir/log"; status=1; continue; }
	else
		target="$outdir/$(basename "$nb")"
		jupyter nbconvert --to notebook --execute --ExecutePreprocessor.timeout=1800 --output "$target" "$nb" 2>"$outdir/log" || {
			tail -30 "$outdir/log"; status=1; continue; }
	fi
	python3 - "$target" <<'PY' || status=1
import json, sys
nb = json.load(open(sys.argv[1]))
want = nb["metadata"].get("prunelab", {}).get("figures", 0)
errors, figures = [], 0
for i, c in enumerate(nb["cells"]):
    for o in c.get("outputs", []):
        if o["output_type"] == "error":
            errors.append(f"cell {i}: {o.get('ename')}: {o.get('evalue')}")
        if o["output_type"] == "stream" and o.get("name") == "stderr" and "panic:" in "".join(o.get("text", [])):
            errors.append(f"cell {i}: panic")
        data = o.get("data", {})
        if "image/png" in data or "image/svg+xml" in data or "<svg" in "".join(data.get("text/html", [])):
            figures += 1
print(f"   {figures} figure(s), {want} expected; {len(errors)} error(s)")
for e in errors:
    print("   " + e)
sys.exit(1 if errors or figures < want else 0)
PY
	echo "   $(($(date +%s) - start)) s"
done
rm -rf "$outdir"
exit $status
