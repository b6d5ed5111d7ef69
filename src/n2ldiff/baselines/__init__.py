"""Physics-based low-light baselines (Lv et al. 2021, Brooks et al. 2019, MAET 2021), each a seeded
function ``(image N×3×H×W in [0,1], generator) -> image``; ``registry`` maps names to them."""

from n2ldiff.baselines.dark_isp import dark_isp
from n2ldiff.baselines.lv import LV_GRID, lv, lv_darken
from n2ldiff.baselines.registry import Method, expand_methods, get_method, list_methods, run_method
from n2ldiff.baselines.unprocess import process, random_camera, unprocess, unprocess_lowlight

__all__ = [
    "LV_GRID",
    "Method",
    "dark_isp",
    "expand_methods",
    "get_method",
    "list_methods",
    "lv",
    "lv_darken",
    "process",
    "random_camera",
    "run_method",
    "unprocess",
    "unprocess_lowlight",
]
