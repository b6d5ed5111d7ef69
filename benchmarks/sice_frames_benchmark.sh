#!/usr/bin/env bash
# The larger test set: every low frame of the 34 SICE test scenes (125 frames, R 1.7-27, `frames` layout), the
# shipped default model at each frame's real exposure ratio (oracle) against the physics baselines with noise.
# With 125 frames instead of 34 pairs, the median seed/real noise ratio and the realism statistics have about
# half the sampling error. Writes docs/benchmark/frames/results.{json,csv,md}; images cached in
# runs/benchmark-cache-frames/. Run from anywhere; paths are from the repo root.
set -euo pipefail
cd "$(dirname "$0")/.."

n2ldiff benchmark \
  --data ../shared/data/sice_frames --layout frames --split test \
  --methods n2ldiff,lv-random-noise,unprocess,dark-isp \
  --seeds 3407 123456 \
  --exposure oracle \
  --size-multiple 32 --lpips-net alex --subsets 4 \
  --no-figures \
  --cache-dir runs/benchmark-cache-frames \
  --out docs/benchmark/frames \
  "$@"
