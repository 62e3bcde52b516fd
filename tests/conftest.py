import os

# Keep tests on the CPU and quiet, whatever machine they run on.
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
