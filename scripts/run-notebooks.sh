#!/usr/bin/env bash
# Executes every notebook in notebooks/ on the real GoNB kernel, headless, and checks that no cell
# failed and that each notebook showed the figures it promises (its metadata "prunelab.figures").
#
#   scripts/run-notebooks.sh                 # smoke budget, outputs into a temporary directory
#   PRUNELAB_BUDGET=full scripts/run-notebooks.sh --inplace   # full budget, outputs saved in the notebooks
#   scripts/run-notebooks.sh notebooks/01-quickstart.ipynb    # just one
#
# Needs Debian's jupyter-nbconvert python3-nbclient python3-ipykernel (CI installs them). Installs GoNB
# v0.11.4 (pinned by notebooks/tools/go.mod), goimports and gopls at pinned versions, and the kernel, set
# up so that notebooks use this checkout (--go_work) and resolve modules from the local cache first.
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

gobin=$(go env GOPATH)/bin
export PATH="$gobin:$PATH"
command -v goimports >/dev/null || go install golang.org/x/tools/cmd/goimports@v0.52.0
command -v gopls >/dev/null || go install golang.org/x/tools/gopls@v0.23.0
(cd notebooks/tools && go build -o "$gobin/gonb" github.com/janpfeifer/gonb)
go mod download github.com/janpfeifer/gonb@v0.11.4
gonb --install --go_work="$repo" --raw_error >/dev/null 2>&1
# The notebooks' own modules resolve exact versions (e.g. gonbui) from the local module cache first:
# the module proxy here refuses version lists for gonb.
python3 - "$(go env GOMODCACHE)" <<'PY'
import json, os, sys
p = os.path.expanduser("~/.local/share/jupyter/kernels/gonb/kernel.json")
k = json.load(open(p))
k["env"] = {"GOPROXY": "file://" + sys.argv[1] + "/cache/download,https://proxy.golang.org,direct"}
json.dump(k, open(p, "w"))
PY

outdir=$(mktemp -d)
status=0
for nb in "${notebooks[@]}"; do
	echo "== $nb (budget $PRUNELAB_BUDGET)"
	start=$(date +%s)
	if [ $inplace = 1 ]; then
		target=$nb
		jupyter nbconvert --to notebook --execute --inplace --ExecutePreprocessor.timeout=3600 "$nb" 2>"$outdir/log" || {
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
