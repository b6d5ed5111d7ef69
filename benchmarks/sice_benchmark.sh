#!/usr/bin/env bash
# The README benchmark: SICE test split (34 pairs), the shipped default model at its default exposure (auto),
# at each pair's real exposure ratio (oracle) and at a fixed R = 4 (two stops, near the train pairs' median 4.3:
# a fixed setting like each Lv grid row), and the physics baselines.
# Writes docs/benchmark/results.{json,csv,md} and docs/benchmark/figures/*.png; the generated images are
# cached in runs/benchmark-cache/ (not committed), so an interrupted run resumes where it stopped.
# Needs `n2ldiff fetch-weights` (LPIPS + Inception) once. Run from anywhere; paths are from the repo root.
set -euo pipefail
cd "$(dirname "$0")/.."

n2ldiff benchmark \
  --data ../shared/data/sice_pairs --layout pairs --split test \
  --methods n2ldiff,lv-grid,lv-random-noise,unprocess,dark-isp \
  --seeds 3407 123456 \
  --exposure auto --exposure oracle --exposure 4 \
  --real-low ../shared/data/lol_low \
  --size-multiple 32 --lpips-net alex --subsets 4 \
  --cache-dir runs/benchmark-cache \
  --out docs/benchmark \
  "$@"

# The example grid is a 5 MB PNG at full resolution: the README shows a smaller JPEG copy instead.
python - <<'PY'
from pathlib import Path

from PIL import Image

png = Path("docs/benchmark/figures/examples.png")
if png.is_file():
    image = Image.open(png).convert("RGB")
    image.thumbnail((1400, 1400), Image.Resampling.LANCZOS)
    image.save(png.with_suffix(".jpg"), quality=85, optimize=True)
    png.unlink()
PY
