"""Backends: ONNX Runtime and OpenVINO give PyTorch's outputs (within 1/255), for any size, batch and tiling.

ONNX export takes tens of seconds, so each model is exported once per module (``exported``).
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import pytest
import torch

from n2ldiff import backends
from n2ldiff.backends import (
    RUNTIMES,
    ChannelsLastNetworks,
    OnnxNetworks,
    export_onnx,
    find_onnx,
    inference_copy,
)
from n2ldiff.errors import N2LDiffError
from n2ldiff.files import sha256_file
from n2ldiff.inference.manifest import read_manifest
from n2ldiff.models.n2ldiff import N2LDiff
from n2ldiff.pipeline import LowLightPipeline, default_model_dir

ONE_LEVEL = 1 / 255

RUNTIME_MODULES = {"onnx": "onnxruntime", "openvino": "openvino"}


def require_export() -> None:
    for module in ("onnx", "onnxscript"):
        pytest.importorskip(module, reason=f"ONNX export needs {module} (pip install 'n2ldiff[onnx]')")


def require_runtime(backend: str) -> None:
    module = RUNTIME_MODULES[backend]
    pytest.importorskip(module, reason=f"the {backend} backend needs {module} (pip install 'n2ldiff[{backend}]')")


def image(h: int, w: int, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    base = torch.rand(1, 3, h // 4 + 1, w // 4 + 1, generator=gen)
    return torch.nn.functional.interpolate(base, size=(h, w), mode="bilinear", align_corners=False)


def copy_model(source: Path, target: Path) -> Path:
    target.mkdir(parents=True)
    for name in ("config.json", "model.safetensors"):
        shutil.copy(source / name, target / name)
    return target


@pytest.fixture(scope="module")
def exported(tiny_v2_model_dir, tmp_path_factory) -> Path:
    """A copy of the tiny v2 model folder with its ONNX files written by ``export_onnx``."""
    require_export()
    folder = copy_model(tiny_v2_model_dir, tmp_path_factory.mktemp("onnx") / "tiny_v2")
    model = N2LDiff.from_pretrained(folder)
    export_onnx(model, folder, sha256_file(folder / "model.safetensors"))
    return folder


@pytest.fixture()
def empty_cache(tmp_path, monkeypatch) -> Path:
    cache = tmp_path / "onnx-cache"
    monkeypatch.setenv("N2LDIFF_ONNX_DIR", str(cache))
    return cache


def test_inference_copy_computes_the_same_function(tiny_model_dir, tiny_v2_model_dir):
    for folder in (tiny_model_dir, tiny_v2_model_dir):  # paper layers (instance norm) and v2 layers
        model = N2LDiff.from_pretrained(folder)
        fused = inference_copy(model)
        assert not any(isinstance(m, torch.nn.InstanceNorm2d) for m in fused.modules())
        assert not any("weight_g" in name for name, _ in fused.named_parameters())
        normal = image(24, 40)
        exposure = torch.tensor([3.0]) if model.config.model.exposure_conditioning else None
        with torch.no_grad():
            a, b = model.encode(normal, exposure), fused.encode(normal, exposure)
            torch.testing.assert_close(b.center, a.center, atol=1e-5, rtol=0)
            x_t, t = torch.randn(1, 3, 24, 40), torch.tensor([7])
            expected = model.denoise(x_t, t, normal, a)
            torch.testing.assert_close(fused.denoise(x_t, t, normal, b), expected, atol=1e-5, rtol=0)


def test_torch_backend_runs_channels_last_on_the_cpu_with_the_same_outputs(tiny_v2_model_dir):
    pipe = LowLightPipeline.from_pretrained(tiny_v2_model_dir, device="cpu")
    assert isinstance(pipe.networks, ChannelsLastNetworks)
    assert pipe.model.denoiser.head.proj.weight_v.is_contiguous(memory_format=torch.channels_last)
    plain = N2LDiff.from_pretrained(tiny_v2_model_dir)  # contiguous, as N2LDiff runs by itself
    normal, x_t, t, exposure = image(24, 40), torch.randn(1, 3, 24, 40), torch.tensor([9]), torch.tensor([3.0])
    with torch.no_grad():
        expected = plain.encode(normal, exposure)
        encoding = pipe.networks.encode(normal, exposure)
        torch.testing.assert_close(encoding.center, expected.center, atol=1e-5, rtol=0)
        output = pipe.networks.denoise(x_t, t, normal, encoding)
        torch.testing.assert_close(output, plain.denoise(x_t, t, normal, expected), atol=1e-5, rtol=0)
    out = pipe(image(37, 53), seeds=[1], exposure=3.0)
    assert out.is_contiguous() and out.shape == (1, 3, 37, 53)


def test_exported_files_record_their_weights_and_leave_no_temporaries(exported):
    names = sorted(p.name for p in exported.iterdir())
    assert names == ["config.json", "denoiser.onnx", "encoder.onnx", "model.safetensors"]
    digest = sha256_file(exported / "model.safetensors")
    assert find_onnx(exported, digest) == (exported / "encoder.onnx", exported / "denoiser.onnx")
    assert find_onnx(exported, "0" * 64) is None


@pytest.mark.parametrize("backend", ["onnx", "openvino"])
@pytest.mark.parametrize(
    ("size", "batch", "tile"),
    [((40, 56), 1, 768), ((37, 53), 3, 768), ((70, 101), 2, 32)],  # padding, a batch, tiles of 32 px
)
def test_exported_backends_match_torch_within_one_level(exported, empty_cache, backend, size, batch, tile):
    require_runtime(backend)
    torch_pipe = LowLightPipeline.from_pretrained(exported, device="cpu", tile_size=tile, tile_overlap=8)
    pipe = LowLightPipeline.from_pretrained(exported, device="auto", tile_size=tile, tile_overlap=8, backend=backend)
    assert isinstance(pipe.networks, RUNTIMES[backend]) and pipe.device.type == "cpu"
    images = torch.cat([image(*size, seed=i) for i in range(batch)])
    seeds = list(range(3407, 3407 + batch))
    expected = torch_pipe.generate(images, seeds, exposure=[2.0, 5.0, 9.0][:batch])
    got = pipe.generate(images, seeds, exposure=[2.0, 5.0, 9.0][:batch])
    assert got.shape == expected.shape == images.shape
    assert (got - expected).abs().max().item() <= ONE_LEVEL
    assert not empty_cache.exists()  # the model folder's files were used: nothing exported again


@pytest.mark.parametrize("backend", ["onnx", "openvino"])
def test_paper_layers_export_and_match(tiny_model_dir, tmp_path, backend):
    """Instance norm and transposed convolutions (converted checkpoints) run on the exported backends too."""
    require_export()
    require_runtime(backend)
    model = N2LDiff.from_pretrained(tiny_model_dir)
    encoder, denoiser = export_onnx(model, tmp_path, "paper")
    nets = RUNTIMES[backend](model.config, encoder, denoiser, "paper")
    normal, x_t, t = image(24, 36), torch.randn(2, 3, 24, 36), torch.tensor([3, 80])
    normal = normal.expand(2, -1, -1, -1).contiguous()
    with torch.no_grad():
        reference = model.encode(normal)
        expected = model.denoise(x_t, t, normal, reference)
    encoding = nets.encode(normal)
    torch.testing.assert_close(encoding.center, reference.center, atol=1e-4, rtol=0)
    torch.testing.assert_close(nets.denoise(x_t, t, normal, encoding), expected, atol=1e-4, rtol=0)


def test_stale_or_foreign_onnx_files_are_not_used(exported, empty_cache, tmp_path):
    require_runtime("onnx")
    folder = copy_model(exported, tmp_path / "retrained")
    for name in ("encoder.onnx", "denoiser.onnx"):
        shutil.copy(exported / name, folder / name)
    model = N2LDiff.from_pretrained(folder)
    with torch.no_grad():
        model.encoder.head.proj.bias.add_(0.5)  # "retrained": other weights, same architecture
    model.save_pretrained(folder)  # replaces config.json and model.safetensors only: the ONNX files are stale
    digest = sha256_file(folder / "model.safetensors")
    with pytest.raises(N2LDiffError, match="other weights"):
        OnnxNetworks(model.config, folder / "encoder.onnx", folder / "denoiser.onnx", digest)
    assert find_onnx(folder, digest) is None
    notes: list[str] = []
    nets = backends.exported_networks("onnx", model, folder, digest, log=notes.append)  # exports into the cache
    assert notes and str(empty_cache) in notes[0]
    assert find_onnx(empty_cache / digest[:32], digest) is not None
    normal = image(16, 24)
    with torch.no_grad():
        expected = model.encode(normal, torch.tensor([4.0])).center
    torch.testing.assert_close(nets.encode(normal, torch.tensor([4.0])).center, expected, atol=1e-5, rtol=0)


def test_backend_errors_are_one_line_user_errors(exported, monkeypatch):
    with pytest.raises(N2LDiffError, match="unknown backend"):
        LowLightPipeline.from_pretrained(exported, device="cpu", backend="tensorrt")
    for backend, module in RUNTIME_MODULES.items():
        monkeypatch.setitem(sys.modules, module, None)  # as if not installed
        with pytest.raises(N2LDiffError, match=rf"n2ldiff\[{backend}\]"):
            LowLightPipeline.from_pretrained(exported, device="cpu", backend=backend)


def test_foreign_onnx_files_are_refused(exported, tmp_path):
    require_runtime("onnx")
    (tmp_path / "encoder.onnx").write_bytes(b"not a model")
    with pytest.raises(N2LDiffError, match="not a readable ONNX file"):
        OnnxNetworks(N2LDiff.from_pretrained(exported).config, tmp_path / "encoder.onnx", exported / "denoiser.onnx")
    model = N2LDiff.from_pretrained(exported)
    swapped = (exported / "denoiser.onnx", exported / "encoder.onnx")  # each file in the other's place
    with pytest.raises(N2LDiffError, match="not an n2ldiff encoder export"):
        OnnxNetworks(model.config, *swapped)


def test_manifest_settings_name_a_non_default_backend(exported):
    require_runtime("onnx")
    onnx_method = LowLightPipeline.from_pretrained(exported, device="cpu", backend="onnx").method()
    torch_method = LowLightPipeline.from_pretrained(exported, device="cpu").method()
    assert onnx_method.settings["backend"] == "onnx"
    assert "backend" not in torch_method.settings


@pytest.mark.slow
def test_shipped_model_matches_torch_within_one_level_on_every_backend(tmp_path, empty_cache):
    require_export()
    folder = copy_model(default_model_dir(), tmp_path / "default")
    normal = image(64, 96, seed=5)
    torch_pipe = LowLightPipeline.from_pretrained(folder, device="cpu")
    torch_out = torch_pipe(normal, seeds=[3407, 1], exposure=4.0)
    torch_teacher = torch_pipe(normal, seeds=[3407], exposure=4.0, steps=4)
    checked = []
    for backend, module in RUNTIME_MODULES.items():  # the first exports into the cache, the second reuses it
        if importlib.util.find_spec(module) is None:
            continue
        pipe = LowLightPipeline.from_pretrained(folder, device="cpu", backend=backend)
        out = pipe(normal, [3407, 1], exposure=4.0)
        assert (out - torch_out).abs().max().item() <= ONE_LEVEL, backend
        assert (out[0] - out[1]).abs().mean() > 0.002  # the seeds still matter
        teacher = pipe(normal, [3407], exposure=4.0, steps=4)  # the denoiser too (the default may skip it)
        assert (teacher - torch_teacher).abs().max().item() <= ONE_LEVEL, backend
        checked.append(backend)
    if not checked:
        pytest.skip("neither onnxruntime nor openvino is installed")


def test_build_voc_workers_run_on_an_exported_backend(exported, empty_cache, tmp_path):
    require_runtime("onnx")
    from n2ldiff.builders.voc import build_dataset
    from tests.builders.test_voc import make_voc

    voc = make_voc(tmp_path / "src", {"000001": (40, 48), "000002": (48, 40)})
    summary = build_dataset(voc, tmp_path / "out", model=exported, backend="onnx", workers=2, shard_size=1)
    assert summary.ok and summary.written == 2
    records = read_manifest(tmp_path / "out")
    assert [r["settings"].get("backend") for r in records] == ["onnx", "onnx"]
    assert not empty_cache.exists()  # the workers used the model folder's ONNX files
    with pytest.raises(N2LDiffError, match="build.json"):  # a build is resumed with its own settings only
        build_dataset(voc, tmp_path / "out", model=exported, workers=1, shard_size=1)
