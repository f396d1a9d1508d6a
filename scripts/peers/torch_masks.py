#!/usr/bin/env python3
"""Masks PyTorch's pruning functions produce for fixed weights: the fixture of Prunelab's parity test.

Writes pruning/testdata/torch_masks.json (or the path given with --out): for each case, the weights
of one or more nn.Linear / nn.Conv2d layers in PyTorch's layout (row-major, Linear [out, in],
Conv2d [out, in, kh, kw]), the pruning call and amount, and the masks torch.nn.utils.prune left in
the modules. The weights are drawn by Python's own seeded generator (not torch's), rounded to
float32, and many are drawn from a small set of values so that there are exact ties, across layers
too; ln_structured cases repeat whole output units (some with flipped signs) to tie their norms.
The Go test (pruning/torch_parity_test.go) rebuilds the same weights in GoMLX's layout (Linear
weights transposed to [in, out], Conv2d kernels to [kh, kw, in, out]), prunes them with
Config.Ties = TiesLikeTorch and compares masks; it reruns this script when torch is available.

Usage: python3 scripts/peers/torch_masks.py [--out pruning/testdata/torch_masks.json]
Needs PyTorch (Debian: python3-torch, 1.13 at the time of writing) on the CPU.
"""
import argparse
import json
import os
import random
import struct

import torch
import torch.nn.utils.prune as prune

SEED = 20240613
TIE_VALUES = [0.125, 0.25, 0.5, 0.75, 1.0]


def f32(x):
    """Rounds x to the nearest float32 (exactly representable in JSON as a double)."""
    return struct.unpack("f", struct.pack("f", x))[0]


def draw(rng, n, ties):
    """n float32 values: from TIE_VALUES with random signs when ties, else N(0, 1)."""
    if ties:
        return [f32(rng.choice(TIE_VALUES) * rng.choice([-1.0, 1.0])) for _ in range(n)]
    return [f32(rng.gauss(0.0, 1.0)) for _ in range(n)]


def tied_units(rng, units, per_unit, distinct):
    """Rows of a [units, per_unit] weight: distinct random rows, each repeated (some with flipped
    signs) at random places, so that units tie in norm wherever the pruning threshold falls."""
    pool = [draw(rng, per_unit, ties=False) for _ in range(distinct)]
    rows = [pool[u % distinct] for u in range(units)]
    rng.shuffle(rows)
    rows = [[f32(rng.choice([-1.0, 1.0]) * v) for v in row] if rng.random() < 0.5 else row for row in rows]
    return [v for row in rows for v in row]


def module(kind, shape, flat):
    if kind == "linear":
        m = torch.nn.Linear(shape[1], shape[0], bias=False)
    else:
        m = torch.nn.Conv2d(shape[1], shape[0], kernel_size=(shape[2], shape[3]), bias=False)
    with torch.no_grad():
        m.weight.copy_(torch.tensor(flat, dtype=torch.float32).reshape(shape))
    return m


def mask_bits(m):
    return "".join("1" if v else "0" for v in m.weight_mask.flatten().tolist())


def case(name, method, amount, params, n=None):
    mods = [module(p["kind"], p["shape"], p["weight"]) for p in params]
    if method == "l1_unstructured":
        prune.l1_unstructured(mods[0], "weight", amount=amount)
    elif method == "global_unstructured":
        prune.global_unstructured([(m, "weight") for m in mods], pruning_method=prune.L1Unstructured, amount=amount)
    elif method == "ln_structured":
        prune.ln_structured(mods[0], "weight", amount=amount, n=n, dim=0)
    else:
        raise ValueError(method)
    for p, m in zip(params, mods):
        p["mask"] = mask_bits(m)
    c = {"name": name, "method": method, "amount": amount, "params": params}
    if n is not None:
        c["n"] = n
    return c


def build():
    rng = random.Random(SEED)
    lin = lambda out, inp, ties: {"kind": "linear", "shape": [out, inp], "weight": draw(rng, out * inp, ties)}
    conv = lambda out, inp, k, ties: {"kind": "conv2d", "shape": [out, inp, k, k],
                                      "weight": draw(rng, out * inp * k * k, ties)}
    cases = [
        case("l1 linear no ties", "l1_unstructured", 0.3, [lin(7, 9, False)]),
        case("l1 linear ties", "l1_unstructured", 0.4, [lin(8, 12, True)]),
        # round(0.25·10) = 2 and round(0.25·14) = 4: Python rounds half to even.
        case("l1 linear half to even down", "l1_unstructured", 0.25, [lin(2, 5, True)]),
        case("l1 linear half to even up", "l1_unstructured", 0.25, [lin(2, 7, True)]),
        case("l1 linear ties most pruned", "l1_unstructured", 0.9, [lin(10, 10, True)]),
        # k·64 ≤ n: torch.topk takes std::partial_sort instead of std::nth_element.
        case("l1 linear ties partial sort", "l1_unstructured", 0.01, [lin(40, 32, True)]),
        case("l1 conv ties", "l1_unstructured", 0.5, [conv(4, 3, 3, True)]),
        case("global l1 no ties", "global_unstructured", 0.6, [lin(6, 10, False), lin(3, 6, False)]),
        case("global l1 ties", "global_unstructured", 0.55, [lin(12, 16, True), lin(5, 12, True), lin(3, 5, True)]),
        case("global l1 ties partial sort", "global_unstructured", 0.005,
             [lin(30, 40, True), lin(10, 30, True)]),
        case("global l1 linear and conv ties", "global_unstructured", 0.7, [conv(5, 2, 3, True), lin(4, 20, True)]),
    ]
    for n in (1, 2):
        for amount in (0.3, 0.5, 0.75):
            cases.append(case(f"ln{n} linear tied units {amount}", "ln_structured", amount,
                              [{"kind": "linear", "shape": [12, 7], "weight": tied_units(rng, 12, 7, 4)}], n=n))
        cases.append(case(f"ln{n} linear no ties", "ln_structured", 0.4, [lin(9, 5, False)], n=n))
        cases.append(case(f"ln{n} conv tied filters", "ln_structured", 0.5,
                          [{"kind": "conv2d", "shape": [10, 2, 2, 2], "weight": tied_units(rng, 10, 8, 3)}], n=n))
    return {
        "generator": "scripts/peers/torch_masks.py",
        "torch": torch.__version__,
        "seed": SEED,
        "layout": "PyTorch's: Linear weight [out, in], Conv2d weight [out, in, kh, kw], row-major; "
                  "masks as strings of 0 (pruned) and 1 (kept)",
        "cases": cases,
    }


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    default_out = os.path.join(here, "..", "..", "pruning", "testdata", "torch_masks.json")
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=default_out)
    args = ap.parse_args()
    torch.set_num_threads(1)
    data = build()
    with open(args.out + ".tmp", "w") as f:
        json.dump(data, f, separators=(",", ":"))
        f.write("\n")
    os.replace(args.out + ".tmp", args.out)
    print(f"wrote {len(data['cases'])} cases to {os.path.normpath(args.out)} (torch {torch.__version__})")


if __name__ == "__main__":
    main()
