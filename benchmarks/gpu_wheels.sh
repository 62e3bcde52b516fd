#!/usr/bin/env bash
# Download, on a machine with a package registry, the Python 3.12 wheels that the GPU image
# lacks (it has Python 3.12, torch, numpy and numba, and no registry), into a git-ignored
# folder that travels with the working tree to the GPU machine. benchmarks/gpu_check.sh
# installs them there without network.
#
#   bash benchmarks/gpu_wheels.sh [DIR]        # default: .whl/ (git-ignored), at most 60 MiB
#
# Only what the image lacks (its package list: the device tool's KINDS.md): torch, numpy, numba,
# tensorboard, tqdm, matplotlib, OpenCV and pandas are there. typing-extensions travels because
# typeguard needs a newer one than some images hold. Left out: ray (its wheel alone is larger
# than the budget; the check runs the local runtime) and rliable (report aggregates fall back to
# the numpy bootstrap; reports are not part of the check).
set -euo pipefail
cd "$(dirname "$0")/.."
DIR="${1:-.whl}"
LIMIT_MIB=60
PACKAGES=(
  gymnasium farama-notifications ale-py minatar tyro docstring-parser typeguard shtab
  typing-extensions
)
mkdir -p "$DIR"
pip download --quiet --only-binary=:all: --no-deps --dest "$DIR" \
  --python-version 3.12 --implementation cp --abi cp312 --abi abi3 --abi none \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --platform any \
  "${PACKAGES[@]}"
size=$(du -sm "$DIR" | cut -f1)
echo "{\"wheels\": $(ls "$DIR"/*.whl | wc -l), \"mib\": $size, \"dir\": \"$DIR\"}"
if [ "$size" -gt "$LIMIT_MIB" ]; then
  echo "gpu_wheels: $DIR holds $size MiB, more than the $LIMIT_MIB MiB budget" >&2
  exit 1
fi
