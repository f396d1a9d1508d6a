#!/usr/bin/env python3
"""vit-tiny in PyTorch, the peer of Prunelab's "vit-tiny" (models/vit.go): patch 4 on 28x28x1 images,
width 64, 4 heads, MLP 128 (GELU, exact erf), 4 pre-LayerNorm blocks (eps 1e-6), mean pooling, linear
head: 138,890 parameters. Median training step (batch 60, Adam 1.2e-3) and inference pass on random
inputs, as torch_convnets.py measures. Prints one JSON line.

  /usr/bin/python3 scripts/peers/torch_vit.py --threads 2 --steps 10
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

import torch_convnets


class Block(nn.Module):
    def __init__(self, width, heads, mlp):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(width, eps=1e-6), nn.LayerNorm(width, eps=1e-6)
        self.q, self.k, self.v, self.out = (nn.Linear(width, width) for _ in range(4))
        self.up, self.down = nn.Linear(width, mlp), nn.Linear(mlp, width)

    def attention(self, x):
        b, t, d = x.shape
        split = lambda y: y.view(b, t, self.heads, d // self.heads).transpose(1, 2)  # [b, h, t, hd]
        q, k, v = split(self.q(x)), split(self.k(x)), split(self.v(x))
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d // self.heads), dim=-1)
        return self.out((att @ v).transpose(1, 2).reshape(b, t, d))

    def forward(self, x):
        x = x + self.attention(self.ln1(x))
        return x + self.down(F.gelu(self.up(self.ln2(x))))


class ViTTiny(nn.Module):
    input_shape = (1, 28, 28)

    def __init__(self, patch=4, width=64, heads=4, mlp=128, blocks=4, classes=10):
        super().__init__()
        self.patch = patch
        tokens = (28 // patch) ** 2
        self.embed = nn.Linear(patch * patch, width)
        self.positions = nn.Parameter(torch.zeros(tokens, width))
        self.blocks = nn.ModuleList(Block(width, heads, mlp) for _ in range(blocks))
        self.final_ln = nn.LayerNorm(width, eps=1e-6)
        self.head = nn.Linear(width, classes)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)
        nn.init.normal_(self.positions, std=0.02)

    def forward(self, x):
        b, p = x.shape[0], self.patch
        x = x.unfold(2, p, p).unfold(3, p, p)  # [b, 1, 7, 7, p, p]
        x = x.reshape(b, -1, p * p)
        x = self.embed(x) + self.positions
        for blk in self.blocks:
            x = blk(x)
        return self.head(self.final_ln(x).mean(1))


torch_convnets.MODELS["vittiny"] = ViTTiny

if __name__ == "__main__":
    torch_convnets.main(["vittiny"], __doc__)
