"""Shared code of the PyTorch peers for Prunelab's convolutional models (torch_lenet5.py, torch_conv.py).

Each model is built exactly as its Prunelab counterpart (models/convnets.go, models/resnet.go): same
layers, same padding, ReLU, max pooling, Glorot normal (He normal for ResNet-20) weights, zero biases.
Timing: the median of --steps training steps (forward, backward, Adam step; batch --batch) and of
--steps inference passes (eval mode, no_grad, same batch), after --warmup untimed ones, on random
inputs of the model's shape. Prints one JSON line.
"""
import argparse
import json
import platform
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def glorot(model):
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_normal_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return model


class LeNet5(nn.Module):
    """conv 6@5x5 pad 2, pool, conv 16@5x5, pool, fc 120, 84, 10 (ReLU): 61,706 parameters."""

    input_shape = (1, 28, 28)

    def __init__(self, widths=(6, 16, 120, 84)):
        """widths: of conv0, conv1, fc0 and fc1 (narrower ones make a compacted LeNet-5)."""
        super().__init__()
        c0, c1, f0, f1 = widths
        self.conv0 = nn.Conv2d(1, c0, 5, padding=2)
        self.conv1 = nn.Conv2d(c0, c1, 5)
        self.fc0 = nn.Linear(c1 * 25, f0)
        self.fc1 = nn.Linear(f0, f1)
        self.fc2 = nn.Linear(f1, 10)
        glorot(self)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv0(x)), 2)
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = torch.flatten(x, 1)
        return self.fc2(F.relu(self.fc1(F.relu(self.fc0(x)))))


class ConvNet(nn.Module):
    """Conv-2/4/6 of Frankle & Carbin 2019: blocks of two 3x3 convs (64, 128, 256) and a pool; fc 256, 256, 10."""

    input_shape = (3, 32, 32)

    def __init__(self, blocks, widths=None, fc=256):
        """widths: the filters of each block (default 64, 128, 256); fc: of fc0 and fc1."""
        super().__init__()
        layers, channels = [], 3
        for b in range(blocks):
            filters = widths[b] if widths else 64 << b
            layers += [nn.Conv2d(channels, filters, 3, padding=1), nn.ReLU(),
                       nn.Conv2d(filters, filters, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
            channels = filters
        self.features = nn.Sequential(*layers)
        side = 32 >> blocks
        self.fc0 = nn.Linear(channels * side * side, fc)
        self.fc1 = nn.Linear(fc, fc)
        self.fc2 = nn.Linear(fc, 10)
        glorot(self)

    def forward(self, x):
        x = torch.flatten(self.features(x), 1)
        return self.fc2(F.relu(self.fc1(F.relu(self.fc0(x)))))


class BasicBlock(nn.Module):
    def __init__(self, inputs, filters, stride):
        super().__init__()
        self.conv0 = nn.Conv2d(inputs, filters, 3, stride=stride, padding=1, bias=False)
        self.bn0 = nn.BatchNorm2d(filters)
        self.conv1 = nn.Conv2d(filters, filters, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(filters)
        self.stride, self.extra = stride, filters - inputs

    def forward(self, x):
        y = F.relu(self.bn0(self.conv0(x)))
        y = self.bn1(self.conv1(y))
        shortcut = x[:, :, ::self.stride, ::self.stride] if self.stride > 1 else x
        if self.extra > 0:  # option A: zero channels appended
            shortcut = F.pad(shortcut, (0, 0, 0, 0, 0, self.extra))
        return F.relu(y + shortcut)


class ResNet20(nn.Module):
    """ResNet-20 for CIFAR (He et al. 2016), option-A shortcuts: 269,722 parameters."""

    input_shape = (3, 32, 32)

    def __init__(self, widths=(16, 32, 64)):
        """widths: of each stage's residual stream and convolutions (narrower: a compacted ResNet-20)."""
        super().__init__()
        self.conv0 = nn.Conv2d(3, widths[0], 3, padding=1, bias=False)
        self.bn0 = nn.BatchNorm2d(widths[0])
        blocks, inputs = [], widths[0]
        for stage, filters in enumerate(widths):
            for b in range(3):
                blocks.append(BasicBlock(inputs, filters, 2 if stage > 0 and b == 0 else 1))
                inputs = filters
        self.blocks = nn.Sequential(*blocks)
        self.fc0 = nn.Linear(widths[-1], 10)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, x):
        x = F.relu(self.bn0(self.conv0(x)))
        x = self.blocks(x)
        return self.fc0(x.mean(dim=(2, 3)))


MODELS = {
    "lenet5": LeNet5,
    "conv2": lambda: ConvNet(1),
    "conv4": lambda: ConvNet(2),
    "conv6": lambda: ConvNet(3),
    "resnet20": ResNet20,
}


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def measure(name, args):
    device = torch.device(args.device)
    if device.type == "cpu":
        torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    model = MODELS[name]().to(device)
    params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.Adam(model.parameters(), lr=1.2e-3, eps=1e-8)
    x = torch.rand((args.batch,) + model.input_shape, device=device)
    y = torch.randint(0, 10, (args.batch,), device=device)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()

    def timed(fn, n):
        times = []
        for _ in range(n):
            sync(device)
            start = time.perf_counter()
            fn()
            sync(device)
            times.append(time.perf_counter() - start)
        return times

    model.train()
    timed(step, args.warmup)
    steps = timed(step, args.steps)
    model.eval()
    with torch.no_grad():
        timed(lambda: model(x), args.warmup)
        infers = timed(lambda: model(x), args.steps)
    return {
        "model": name, "params": params, "batch": args.batch,
        "step_ms": 1000 * statistics.median(steps), "infer_ms": 1000 * statistics.median(infers),
        "torch": torch.__version__, "device": str(device),
        "threads": torch.get_num_threads() if device.type == "cpu" else None,
        "machine": platform.machine(),
    }


def main(models, doc):
    parser = argparse.ArgumentParser(description=doc)
    if len(models) > 1:
        parser.add_argument("--model", choices=models, required=True)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=60)
    parser.add_argument("--steps", type=int, default=20, help="timed steps (and inference passes)")
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args()
    print(json.dumps(measure(args.model if len(models) > 1 else models[0], args)), flush=True)
