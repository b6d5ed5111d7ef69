"""The fixture subset vendored in tests/fixtures is exactly the corresponding part of ../shared's fixture."""

from __future__ import annotations

import torch
from safetensors.torch import load_file

from tests.conftest import ORIGINAL_FIXTURE, VENDORED_FIXTURE, require_shared
from tests.fixtures.make_original_core import CORE_FILE, LAYOUT_FILES, core_tensors


def test_vendored_subset_equals_the_shared_fixture():
    full = load_file(str(require_shared(ORIGINAL_FIXTURE / "tiny_io.safetensors", "compares with the full fixture")))
    vendored = load_file(str(VENDORED_FIXTURE / CORE_FILE))
    expected = core_tensors(full)
    assert vendored.keys() == expected.keys()
    for name, value in expected.items():
        assert value.dtype == vendored[name].dtype and torch.equal(value, vendored[name]), name
    for name in LAYOUT_FILES:
        assert (VENDORED_FIXTURE / name).read_bytes() == (ORIGINAL_FIXTURE / name).read_bytes(), name


def test_vendored_subset_is_small():
    total = sum(p.stat().st_size for p in VENDORED_FIXTURE.iterdir())
    assert total < 2_000_000
