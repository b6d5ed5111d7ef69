#!/usr/bin/env bash
# The README utility benchmark: an enhancer trained on each row's pairs of the SICE train split (171 pairs),
# tested on the real low images of the SICE test split (34 pairs); every default row (real, n2ldiff at each
# pair's real exposure, two Lv grid settings, lv-random, lv-random-noise, unprocess, dark-isp, dark-clean,
# none), 3 training seeds, one CPU thread. Projected at about 50 min on the 2-core development CPU (README,
# Utility benchmark).
# Works in runs/utility-sice/ (synthetic images, enhancer weights and per-run results, not committed), so an
# interrupted run resumes where it stopped, then copies the report to docs/utility/.
# Needs `n2ldiff fetch-weights` (LPIPS) once. Run from anywhere; paths are from the repo root. Extra
# arguments go to `n2ldiff utility` (a later --threads overrides the one below).
set -euo pipefail
cd "$(dirname "$0")/.."

n2ldiff utility \
  --train ../shared/data/sice_pairs --test ../shared/data/sice_pairs --layout pairs \
  --exposure oracle --runs 3 --threads 1 \
  --out runs/utility-sice \
  "$@"

mkdir -p docs/utility/figures
cp runs/utility-sice/results.{json,csv,md} docs/utility/
cp runs/utility-sice/figures/utility_bars.png runs/utility-sice/figures/utility_examples.png docs/utility/figures/
