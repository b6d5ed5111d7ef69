"""``n2ldiff.metrics`` loads its names on first use, so one submodule does not import every metric's dependencies."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest

import n2ldiff.metrics as metrics

HEAVY = ("scipy", "matplotlib", "torchmetrics")


@pytest.mark.parametrize("module", ["n2ldiff.metrics.weights", "n2ldiff.metrics.artifacts", "n2ldiff.metrics"])
def test_importing_a_submodule_loads_no_other_metric_dependencies(module):
    code = f"import json, sys, {module}; print(json.dumps([m for m in {list(HEAVY)!r} if m in sys.modules]))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


def test_every_exported_name_is_its_submodules_object():
    for name in metrics.__all__:
        module = importlib.import_module(f"n2ldiff.metrics.{metrics._MODULE_OF[name]}")
        assert getattr(metrics, name) is getattr(module, name)
    assert set(metrics.__all__) <= set(dir(metrics))


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'psnr2'"):
        metrics.psnr2  # noqa: B018
    with pytest.raises(ImportError):
        exec("from n2ldiff.metrics import psnr2", {})
