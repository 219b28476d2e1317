#!/usr/bin/env bash
# Continue the bundled model's training on a lent GPU machine for a fixed time; the checkpoint, its
# log and the weights-only snapshots come back under $OUT. From the device tool, in the repository root:
#   bash scripts/train_on_device.sh MINUTES STEPS [extra training flags]
# STEPS sets the total length of the learning-rate schedule the run continues; STATE (default state/sam3-shapes)
# is the resumable training state to continue, restored from git history as docs/training.md shows.
set -euo pipefail
minutes=${1:?minutes of training}
steps=${2:?total steps of the schedule}
shift 2
source scripts/device_env.sh
run=${RUN_DIR:-/tmp/device-run}
workers=$(( $(nproc) > 2 ? $(nproc) - 2 : 0 ))
python3 -m training --out "$run" --resume-from "${STATE:-state/sam3-shapes}" --steps "$steps" --no-one-to-many \
    --workers "$workers" --time-limit "$minutes" "$@"
out=${OUT:-$run/out}
mkdir -p "$out/checkpoint"
cp "$run"/checkpoint/* "$out/checkpoint/"
cp "$run/log.jsonl" "$out/"
if [ -d "$run/snapshots" ]; then cp -r "$run/snapshots" "$out/"; fi  # weights to average (training.average)
