#!/usr/bin/env bash
# The GPU figures the issues ask for, on a lent device machine; JSON results land in $OUT:
# one image session against independent calls with the full-size SAM 3 (bf16), and text tracking
# frames per second with the full-size video model and the smallest tracker-capable ShapesWorld size.
set -euo pipefail
source scripts/device_env.sh
out=${OUT:-/tmp/gpu-benchmarks}
mkdir -p "$out"
python3 -m benchmarks.session_speed --config full --device cuda --repeats 3 --json "$out/session_speed_gpu.json"
python3 -m benchmarks.video_memory --device cuda --threads 4 --configs full-sam3 shapes128-windowed \
    --speed-frames 200 --json "$out/video_speed_gpu.json"
