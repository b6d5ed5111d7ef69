"""Inference engine: tiling for any image size, the files-to-outputs runner, and the run manifest."""

from n2ldiff.inference.manifest import ManifestWriter, completed_outputs, read_manifest, run_info
from n2ldiff.inference.runner import Failure, Job, LowLightMethod, RunSummary, plan_outputs, run_jobs
from n2ldiff.tiling import (
    SeamEnergy,
    blend_window,
    crop_to,
    pad_bottom_right,
    pad_to_multiple,
    plan_tiles,
    seam_energy,
    tile_size_for_memory,
    tiled_apply,
)

__all__ = [
    "Failure",
    "Job",
    "LowLightMethod",
    "ManifestWriter",
    "RunSummary",
    "SeamEnergy",
    "blend_window",
    "completed_outputs",
    "crop_to",
    "pad_bottom_right",
    "pad_to_multiple",
    "plan_outputs",
    "plan_tiles",
    "read_manifest",
    "run_info",
    "run_jobs",
    "seam_energy",
    "tile_size_for_memory",
    "tiled_apply",
]
