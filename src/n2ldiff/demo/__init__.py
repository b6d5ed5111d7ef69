"""The local web demo (``n2ldiff demo``, optional extra ``n2ldiff[demo]``).

``results`` holds the Gradio-free helpers (run methods, brightened and zoomed views, zip with
manifest); ``app`` builds the page and launches it. Gradio is imported only by ``app``.
"""

from __future__ import annotations

import importlib.util

from n2ldiff.errors import N2LDiffError

INSTALL_HINT = "the web demo needs Gradio: pip install 'n2ldiff[demo]'"


def require_gradio() -> None:
    """Raise ``N2LDiffError`` with the install command when Gradio is not installed."""
    if importlib.util.find_spec("gradio") is None:
        raise N2LDiffError(INSTALL_HINT)


__all__ = ["INSTALL_HINT", "require_gradio"]
