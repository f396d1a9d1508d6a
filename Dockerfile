# Prunelab lab image: JupyterLab with the GoNB kernel, Go, goimports and gopls, the GoMLX XLA plugin,
# Prunelab and its notebooks, running as a non-root user.
#
#   docker build -t prunelab .                                   # XLA on CPU
#   docker build -t prunelab:cuda --build-arg XLA_PLUGIN=cuda13 .  # XLA on NVIDIA GPUs (CUDA 13)
#   docker run --rm -p 8888:8888 prunelab                        # open the URL it prints
#   docker run --rm --gpus all -p 8888:8888 prunelab:cuda
#
# It installs the lab through scripts/install-lab.sh, the very script CI runs. Every version is pinned:
# here (base image, JupyterLab, the CUDA plugin's JAX release), in that script, and in the go.mod files.
ARG GO_VERSION=1.26.8
FROM golang:${GO_VERSION}-bookworm

# XLA_PLUGIN: cpu, or cuda13 / cuda12 for the CUDA variant (plugin and NVIDIA libraries of JAX_VERSION).
ARG XLA_PLUGIN=cpu
ARG JAX_VERSION=0.11.2
ARG JUPYTERLAB_VERSION=4.2.5

# Debian packages (as root): python3-venv for JupyterLab, plus the lab's own list, plus the ONNX peers of
# notebook 09 (PyTorch, torchvision and the ONNX checker; Node.js for ONNX Runtime's package).
COPY scripts/install-lab.sh /tmp/install-lab.sh
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends python3-venv python3-pip && \
    EXTRA_DEBIAN_PACKAGES="python3-torch python3-torchvision python3-onnx nodejs npm" /tmp/install-lab.sh --apt-only && \
    rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --uid 1000 lab
COPY --chown=lab:lab . /home/lab/prunelab
USER lab
WORKDIR /home/lab/prunelab
ENV PATH=/home/lab/go/bin:/home/lab/.venvs/lab/bin:/usr/local/go/bin:$PATH \
    PRUNELAB_RUNS=/home/lab/runs

# The user part: GoNB, goimports, gopls, the kernel (using this checkout), JupyterLab, ONNX Runtime's
# Node package (its lockfile pins it; --ignore-scripts: its install script only fetches GPU extras); then the CLI,
# the XLA plugin (go-xla's installer, as GoMLX's auto-install does), and a warm build cache.
RUN scripts/install-lab.sh --jupyterlab "${JUPYTERLAB_VERSION}" && \
    (cd scripts/ort && npm ci --ignore-scripts --no-audit --no-fund) && \
    go install ./cmd/prunelab && \
    prunelab backend -install "${XLA_PLUGIN}" -jax "${JAX_VERSION}" && \
    go build ./... && go vet ./pruning/ >/dev/null

# Never download at run time: the plugin is in the image.
ENV GOMLX_NO_AUTO_INSTALL=1
EXPOSE 8888
CMD ["jupyter", "lab", "--ip=0.0.0.0", "--port=8888", "--no-browser", "--notebook-dir=/home/lab/prunelab/notebooks"]
