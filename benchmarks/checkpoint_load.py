"""Seconds and memory to take the weights out of a full training checkpoint (``latest.pt``:
weights, optimizer and a replay of the given size), read whole or mapped
(``load_checkpoint(..., mmap=True)``, what ``efficientzero eval`` and ``load_agent`` do).
Each way runs in a fresh process, so the peak RSS is its own. Prints JSON.

    python benchmarks/checkpoint_load.py --replay-mib 2776     # the Atari 100k replay's size
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def load(path: Path, mmap: bool) -> dict[str, float]:
    from efficientzero.checkpoint import load_checkpoint

    start = time.perf_counter()
    state, _ = load_checkpoint(path, map_location="cpu", mmap=mmap)
    weights = state["learner"]["net"]
    total = float(sum(float(w.float().sum()) for w in weights.values()))
    return {
        "mmap": mmap,
        "seconds": round(time.perf_counter() - start, 4),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "checksum": total,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--replay-mib", type=int, default=2776)
    parser.add_argument("--child", nargs=2, metavar=("PATH", "MMAP"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(load(Path(args.child[0]), args.child[1] == "1")))
        return

    import torch

    from efficientzero.checkpoint import save_checkpoint
    from efficientzero.presets import make_preset

    config = make_preset("atari100k", "Breakout")
    g = torch.Generator().manual_seed(0)
    state = {
        "learner": {
            "net": {f"layer{i}.weight": torch.randn(512, 512, generator=g) for i in range(8)}
        },
        "replay": {"frames": np.zeros(args.replay_mib * 2**20, np.uint8)},
    }
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "latest.pt"
        save_checkpoint(path, state, config)
        del state
        size = path.stat().st_size
        runs = []
        for mmap in (False, True, False, True):
            out = subprocess.run(
                [sys.executable, __file__, "--child", str(path), "1" if mmap else "0"],
                check=True, capture_output=True, text=True,
            )  # fmt: skip
            runs.append(json.loads(out.stdout))
    print(json.dumps({"checkpoint_mib": round(size / 2**20, 1), "runs": runs}, indent=2))


if __name__ == "__main__":
    main()
