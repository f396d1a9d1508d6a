#!/usr/bin/env python3
"""Conv-2, Conv-4, Conv-6 (Frankle & Carbin 2019) and ResNet-20 (He et al. 2016) in PyTorch, the peers
of Prunelab's "conv-2", "conv-4", "conv-6" and "resnet-20" (models/convnets.go, models/resnet.go):
median training step (batch 60, Adam 1.2e-3) and inference pass on random 32x32x3 inputs (CIFAR-10's
shape). Prints one JSON line.

  /usr/bin/python3 scripts/peers/torch_conv.py --model conv2 --threads 2 --steps 10
  python3 scripts/peers/torch_conv.py --model conv4 --device cuda --steps 200
"""
from torch_convnets import main

if __name__ == "__main__":
    main(["conv2", "conv4", "conv6", "resnet20"], __doc__)
