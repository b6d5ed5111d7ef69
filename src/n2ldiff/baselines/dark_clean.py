"""``dark-clean``: the normal image divided by the exposure ratio R, with no noise, blur or colour change.

It is the control that every realistic method must beat: it has the right brightness (it is given R) and
nothing else. Seeds do not change it.
"""

from __future__ import annotations

from torch import Tensor


def dark_clean(image: Tensor, exposure: float) -> Tensor:
    """N x 3 x H x W in [0, 1] -> the same image darkened by the factor ``exposure`` (>= 1)."""
    if exposure < 1:
        raise ValueError(f"exposure ratio must be >= 1, got {exposure}")
    return (image / exposure).clamp(0, 1)
