import os

# Keep tests on the CPU and quiet, whatever machine they run on (tests/test_cuda.py runs where
# CUDA_VISIBLE_DEVICES is set, as benchmarks/gpu_check.sh does).
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import torch

# Tiny tensors gain nothing from intra-op threads; on a shared 2-core machine they stall.
torch.set_num_threads(1)
