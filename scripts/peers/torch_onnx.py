#!/usr/bin/env python3
"""ONNX test models written by PyTorch: the producer side of Prunelab's ONNX import and export checks.

Writes into OUT (one directory per model):
  <name>.onnx          torch.onnx.export (opset 13, eval mode, batch and, for convnets, height/width dynamic)
  <name>.input.bin     a fixed input, float32 little-endian, row-major
  <name>.output.bin    PyTorch's output on that input (float32)
  <name>.json          {"name", "input_shape", "output_shape", "params", "torch", "opset", ...}

Models: "tiny" (Linear 4→3, ReLU, Linear 3→2: a few hundred bytes, committed as
onnxmodel/testdata/tiny.onnx), "vit" (torch_vit.py's vit-tiny, randomly initialized, biases and LayerNorms too), "lenet5" (LeNet-5 flattened with a hard-coded
x.view(-1, 400), randomly initialized), torchvision resnet18, resnet50 and mobilenet_v2 with random initialization (no pretrained
weights can be downloaded here; torch.manual_seed fixes them; batch-norm parameters randomized and
its statistics measured on random images, see calibrate_batch_norm), and LeNet-300-100 trained in PyTorch on
MNIST (Adam 1.2e-3, batch 60, the Lottery Ticket setup; inputs are pixels / 255 flattened to 784, as
Prunelab's datasets.ScaleTo01 gives them) when --mnist DIR is given.

  /usr/bin/python3 torch_onnx.py --out DIR [--models resnet18,resnet50,mobilenet_v2,lenet] \
      [--mnist MNIST_DIR] [--epochs 2] [--size 64]

Reading the four MNIST files is the peer's own code (torch_lenet.py); the LeNet's test accuracy is
printed and stored in lenet.json so that the Go side can compare what it measures.
"""
import argparse
import gzip
import json
import os
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

OPSET = 13


def load_images(path):
    with gzip.open(path, "rb") as f:
        magic, n, rows, cols = struct.unpack(">IIII", f.read(16))
        assert magic == 2051, path
        data = np.frombuffer(f.read(), dtype=np.uint8)
    return data.reshape(n, rows * cols).astype(np.float32) / 255.0


def load_labels(path):
    with gzip.open(path, "rb") as f:
        magic, n = struct.unpack(">II", f.read(8))
        assert magic == 2049, path
        data = np.frombuffer(f.read(), dtype=np.uint8)
    return data.astype(np.int64)


class LeNet5View(nn.Module):
    """LeNet-5 as PyTorch tutorials write it: the flatten is x.view(-1, 16 * 5 * 5), which exports as
    a Reshape to the constant [-1, 400] — a shape constant that compaction must rewrite."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1, self.fc2, self.fc3 = nn.Linear(400, 120), nn.Linear(120, 84), nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = x.view(-1, 16 * 5 * 5)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


class LeNet300100(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc0 = nn.Linear(784, 300)
        self.fc1 = nn.Linear(300, 100)
        self.fc2 = nn.Linear(100, 10)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(F.relu(self.fc0(x)))))


def train_lenet(mnist, epochs, seed):
    torch.manual_seed(seed)
    xtr = torch.from_numpy(load_images(os.path.join(mnist, "train-images-idx3-ubyte.gz")))
    ytr = torch.from_numpy(load_labels(os.path.join(mnist, "train-labels-idx1-ubyte.gz")))
    xte = torch.from_numpy(load_images(os.path.join(mnist, "t10k-images-idx3-ubyte.gz")))
    yte = torch.from_numpy(load_labels(os.path.join(mnist, "t10k-labels-idx1-ubyte.gz")))
    model = LeNet300100()
    opt = torch.optim.Adam(model.parameters(), lr=1.2e-3)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        perm = torch.randperm(xtr.shape[0], generator=gen)
        for s in range(xtr.shape[0] // 60):
            idx = perm[s * 60:(s + 1) * 60]
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(xtr[idx]), ytr[idx]).backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        acc = (model(xte).argmax(1) == yte).float().mean().item()
    return model, xte[:8].clone(), acc


def calibrate_batch_norm(model, size):
    """Makes a randomly initialized network look trained where it matters for checks: batch-norm
    scales and offsets drawn at random (instead of 1 and 0, which folding would turn into identical
    zero biases) and running statistics measured on random images (instead of 0 and 1, with which
    activations vanish through a deep network and every output is ~0)."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0.0, 0.2)
                m.momentum = None  # cumulative average over the calibration batches
                m.reset_running_stats()
        model.train()
        for _ in range(4):
            model(torch.randn(8, 3, size, size))
    model.eval()


def export(model, example, out, name, dynamic, extra):
    model.eval()
    path = os.path.join(out, name + ".onnx")
    axes = {0: "batch"}
    if dynamic:
        axes.update({2: "height", 3: "width"})
    with torch.no_grad():
        torch.onnx.export(model, example, path + ".tmp", opset_version=OPSET, input_names=["input"],
                          output_names=["output"], dynamic_axes={"input": axes, "output": {0: "batch"}},
                          do_constant_folding=True)
        os.replace(path + ".tmp", path)
        y = model(example)
    example.numpy().astype("<f4").tofile(os.path.join(out, name + ".input.bin"))
    y.numpy().astype("<f4").tofile(os.path.join(out, name + ".output.bin"))
    meta = {"name": name, "input_shape": list(example.shape), "output_shape": list(y.shape),
            "params": sum(p.numel() for p in model.parameters()),
            "weights": sum(m.weight.numel() for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))),
            "torch": torch.__version__,
            "opset": OPSET}
    meta.update(extra)
    with open(os.path.join(out, name + ".json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(json.dumps(meta), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--models", default="resnet18,resnet50,mobilenet_v2,lenet")
    ap.add_argument("--mnist", help="directory holding the four MNIST IDX .gz files (for lenet)")
    ap.add_argument("--epochs", type=int, default=2, help="LeNet-300-100 training epochs")
    ap.add_argument("--size", type=int, default=64, help="height and width of the convnets' fixed input")
    ap.add_argument("--batch", type=int, default=2, help="batch of the convnets' fixed input")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    for name in args.models.split(","):
        if name == "tiny":  # onnxmodel/testdata/tiny.onnx: the fuzz test's seed and the error tests' base
            torch.manual_seed(args.seed)
            model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
            export(model, torch.randn(2, 4), args.out, name, False, {})
            continue
        if name == "lenet5":  # random initialization; PyTorch's default init gives non-zero biases
            torch.manual_seed(args.seed)
            g = torch.Generator().manual_seed(args.seed + 1)
            export(LeNet5View(), torch.rand(args.batch, 1, 28, 28, generator=g), args.out, name, False, {})
            continue
        if name == "vit":  # the PyTorch peer of Prunelab's vit-tiny (torch_vit.py), randomly initialized
            import torch_vit
            torch.manual_seed(args.seed)
            model = torch_vit.ViTTiny()
            # Biases and LayerNorm parameters away from their zero/one initialization, as training
            # leaves them: the exporter shares identical initializers between layers, and all-zero
            # biases shared by every projection would tie the heads to the residual stream.
            with torch.no_grad():
                for m in model.modules():
                    if isinstance(m, (torch.nn.Linear, torch.nn.LayerNorm)):
                        torch.nn.init.normal_(m.bias, std=0.02)
                    if isinstance(m, torch.nn.LayerNorm):
                        torch.nn.init.normal_(m.weight, mean=1.0, std=0.02)
            g = torch.Generator().manual_seed(args.seed + 1)
            export(model, torch.rand(args.batch, 1, 28, 28, generator=g), args.out, name, False, {})
            continue
        if name == "lenet":
            if not args.mnist:
                sys.exit("torch_onnx.py: lenet needs --mnist DIR")
            model, x, acc = train_lenet(args.mnist, args.epochs, args.seed)
            export(model, x, args.out, name, False, {"test_accuracy": acc, "epochs": args.epochs})
            continue
        import torchvision
        torch.manual_seed(args.seed)
        model = getattr(torchvision.models, name)()
        calibrate_batch_norm(model, args.size)
        g = torch.Generator().manual_seed(args.seed + 1)
        x = torch.randn(args.batch, 3, args.size, args.size, generator=g)
        export(model, x, args.out, name, True, {"torchvision": torchvision.__version__})


if __name__ == "__main__":
    main()
