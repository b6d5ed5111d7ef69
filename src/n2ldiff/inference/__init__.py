"""The engine: any low-light method over images, files out (lock, resume, atomic writes, manifest).

``engine`` runs jobs; ``runner`` plans them for input files (``generate``, ``simulate``); ``methods``
turns a name into a ``LowLightMethod``; ``manifest`` reads and writes ``manifest.jsonl``; ``progress`` is
the command line's bar. The padding and tiling helpers live in ``n2ldiff.tiling`` (re-exported here).
"""

from n2ldiff.inference.engine import Failure, Job, RunEvent, RunSummary, latest_records, run, select_jobs
from n2ldiff.inference.manifest import ManifestWriter, read_manifest, run_info
from n2ldiff.inference.methods import BaselineMethod, DarkCleanMethod, LowLightMethod, load_method
from n2ldiff.inference.runner import plan_outputs, run_jobs
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
    "BaselineMethod",
    "DarkCleanMethod",
    "Failure",
    "Job",
    "LowLightMethod",
    "ManifestWriter",
    "RunEvent",
    "RunSummary",
    "SeamEnergy",
    "blend_window",
    "crop_to",
    "latest_records",
    "load_method",
    "pad_bottom_right",
    "pad_to_multiple",
    "plan_outputs",
    "plan_tiles",
    "read_manifest",
    "run",
    "run_info",
    "run_jobs",
    "seam_energy",
    "select_jobs",
    "tile_size_for_memory",
    "tiled_apply",
]
