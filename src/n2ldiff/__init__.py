"""n2ldiff: realistic low-light images from normal-light photos (N2LDiff, ICCE 2024, and beyond).

>>> from n2ldiff import LowLightPipeline
>>> pipe = LowLightPipeline.from_pretrained()      # the shipped default model
>>> low = pipe(image, seeds=[3407, 123456])
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "LowLightPipeline": "n2ldiff.pipeline",
    "N2LDiff": "n2ldiff.models.n2ldiff",
    "N2LDiffError": "n2ldiff.errors",
    "RandomLowLight": "n2ldiff.transforms",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    # Heavy modules (torch) load on first use, so `n2ldiff --help` and `import n2ldiff` stay fast.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'n2ldiff' has no attribute {name!r}")
