#!/usr/bin/env python3
"""The PyTorch peer of Prunelab's compaction benchmark (compact/bench_test.go, scripts/bench-compact.sh):
how much faster a physically narrower network runs than the full-width one on PyTorch 1.13's CPU
kernels, against the reduction in multiply-adds. The narrow widths are those of Prunelab's compacted
models (group pruning of 50% and 70% of the channels; ResNet-20's last stage keeps 19 or 20 channels
at 70%, 20 here). PyTorch has no masked model that runs faster than the dense one, so the full-width
model stands for the masked one. Each iteration runs the full-width and the narrow model once each on
the same random batch (eval mode, no_grad); medians; one JSON line per case.

  /usr/bin/python3 scripts/peers/torch_compact.py --threads 2 --steps 20
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn as nn

from torch_convnets import LeNet5, ConvNet, ResNet20

# model -> (full-width constructor, {fraction of channels pruned: narrow constructor})
CASES = {
    "lenet-5": (lambda: LeNet5(), {0.5: lambda: LeNet5((3, 8, 60, 42)), 0.7: lambda: LeNet5((2, 5, 36, 25))}),
    "conv-4": (lambda: ConvNet(2), {0.5: lambda: ConvNet(2, (32, 64), 128), 0.7: lambda: ConvNet(2, (19, 38), 77)}),
    "resnet-20": (lambda: ResNet20(), {0.5: lambda: ResNet20((8, 16, 32)), 0.7: lambda: ResNet20((5, 10, 20))}),
}


def macs(model, x):
    """Multiply-adds of one forward pass of the convolutions and linear layers, per batch element."""
    total = [0]

    def conv(m, inputs, out):
        total[0] += out.numel() // out.shape[0] * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]

    def linear(m, inputs, out):
        total[0] += m.in_features * m.out_features

    hooks = [m.register_forward_hook(conv if isinstance(m, nn.Conv2d) else linear)
             for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        model(x[:1])
    for h in hooks:
        h.remove()
    return total[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--batches", default="1,256")
    parser.add_argument("--models", default=",".join(CASES))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    for name in args.models.split(","):
        full_fn, narrow = CASES[name]
        for sparsity, narrow_fn in narrow.items():
            torch.manual_seed(1)
            full, small = full_fn().eval(), narrow_fn().eval()
            for batch in [int(b) for b in args.batches.split(",")]:
                x = torch.rand((batch,) + full.input_shape)
                theory = macs(full, x) / macs(small, x)
                tf, ts = [], []
                with torch.no_grad():
                    for i in range(args.warmup + args.steps):
                        for model, times in ((full, tf), (small, ts)):
                            start = time.perf_counter()
                            model(x)
                            if i >= args.warmup:
                                times.append(time.perf_counter() - start)
                speedup = statistics.median(tf) / statistics.median(ts)
                print(json.dumps({
                    "model": name, "sparsity": sparsity, "batch": batch,
                    "full_ms": 1000 * statistics.median(tf), "narrow_ms": 1000 * statistics.median(ts),
                    "speedup": speedup, "theoretical": theory, "efficiency": speedup / theory,
                    "torch": torch.__version__, "threads": torch.get_num_threads(),
                }), flush=True)


if __name__ == "__main__":
    main()
