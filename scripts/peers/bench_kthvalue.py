#!/usr/bin/env python3
"""Times PyTorch's global magnitude threshold on the weights Prunelab's benchmark wrote.

Reads little-endian float32 weights (BenchmarkGlobalMagnitude100M writes them when
$PRUNELAB_BENCH_DATA names a file) and times, on the CPU:
  abs+kthvalue  torch.kthvalue(x.abs(), k): the k-th smallest magnitude, the threshold of
                global magnitude pruning (the operation Prunelab must match or beat);
  kthvalue      the same on magnitudes computed beforehand;
  mask          (x.abs() > threshold) after kthvalue: threshold and mask;
  topk          (with --topk) torch.topk(x.abs(), k, largest=False), what
                torch.nn.utils.prune.global_unstructured runs.
Usage: bench_kthvalue.py WEIGHTS.f32 [--sparsity 0.8] [--repeat 3] [--threads 2] [--topk]
"""
import argparse
import time

import numpy as np
import torch


def timed(fn, repeat):
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("weights")
    ap.add_argument("--sparsity", type=float, default=0.8)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--topk", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    x = torch.from_numpy(np.fromfile(args.weights, dtype="<f4"))
    n = x.numel()
    k = round(args.sparsity * n)
    a = x.abs()
    results = {
        "abs+kthvalue": timed(lambda: torch.kthvalue(x.abs(), k), args.repeat),
        "kthvalue": timed(lambda: torch.kthvalue(a, k), args.repeat),
        "abs+kthvalue+mask": timed(lambda: x.abs() > torch.kthvalue(x.abs(), k).values, args.repeat),
    }
    if args.topk:
        results["topk"] = timed(lambda: torch.topk(x.abs(), k, largest=False), 1)
    print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads, {n} float32 weights, k = {k}")
    for name, ts in results.items():
        print(f"  torch {name:18s} min {min(ts):.3f} s  median {sorted(ts)[len(ts) // 2]:.3f} s  "
              f"({', '.join(f'{t:.3f}' for t in ts)})")


if __name__ == "__main__":
    main()
