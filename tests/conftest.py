import os

# Keep tests on the CPU and quiet, whatever machine they run on.
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import torch

# Tiny tensors gain nothing from intra-op threads; on a shared 2-core machine they stall.
torch.set_num_threads(1)
