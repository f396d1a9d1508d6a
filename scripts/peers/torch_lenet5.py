#!/usr/bin/env python3
"""LeNet-5 in PyTorch, the peer of Prunelab's "lenet-5" (models/convnets.go): median training step
(batch 60, Adam 1.2e-3) and inference pass on random 28x28x1 inputs. Prints one JSON line.

  /usr/bin/python3 scripts/peers/torch_lenet5.py --threads 2 --steps 50
  python3 scripts/peers/torch_lenet5.py --device cuda --steps 200
"""
from torch_convnets import main

if __name__ == "__main__":
    main(["lenet5"], __doc__)
