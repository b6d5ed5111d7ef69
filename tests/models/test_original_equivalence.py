"""Our networks reproduce the original N2LDiff code's tensors (../shared/fixtures/original_n2ldiff).

Tolerances are the ones the fixture README gives per tensor (fp32, CPU). The conditioning and layout
tests also run from the subset vendored in tests/fixtures; the network tests need ../shared.
"""

from __future__ import annotations

import json

import pytest
import torch

from n2ldiff.convert import map_original_key
from n2ldiff.models.conditioning import condition_transform
from tests.conftest import VENDORED_FIXTURE


def test_conditioning_matches_original(original_io):
    assert torch.equal(condition_transform(original_io["input_normal"]), original_io["cond12"])


def test_conditioning_edge_case_matches_original(original_io):
    # Constant channel (equalize's identity path), a step edge and a ramp.
    assert torch.equal(condition_transform(original_io["edge_input"]), original_io["edge_cond12"])


def test_encoder_matches_original(tiny_model, original_io):
    with torch.no_grad():
        center, feats = tiny_model.encoder(original_io["input_normal"])
    torch.testing.assert_close(center, original_io["enc_center"], atol=1e-5, rtol=0)
    assert len(feats) == 11
    for i, feat in enumerate(feats):
        torch.testing.assert_close(feat, original_io[f"enc_feat_{i:02d}"], atol=1e-3, rtol=1e-4)


def test_denoiser_matches_original(tiny_model, original_io):
    feats = [original_io[f"enc_feat_{i:02d}"] for i in range(6)]
    with torch.no_grad():
        eps = tiny_model.denoiser(original_io["x_t"], original_io["t"], original_io["input_normal"], feats)
    torch.testing.assert_close(eps, original_io["eps_pred"], atol=1e-5, rtol=0)


def test_encode_returns_the_denoiser_features(tiny_model, original_io):
    with torch.no_grad():
        encoding = tiny_model.encode(original_io["input_normal"])
    assert len(encoding.features) == 6
    assert encoding.log_noise_std is None and encoding.exposure_emb is None
    torch.testing.assert_close(encoding.features[5], original_io["enc_feat_05"], atol=1e-3, rtol=1e-4)


def _layout(name: str) -> list[dict]:
    data = json.loads((VENDORED_FIXTURE / name).read_text())
    return data["entries"] if isinstance(data, dict) else data


@pytest.mark.parametrize(
    ("layout_file", "base", "unused_encoder_params"),
    [("tiny_checkpoint_layout.json", 8, 6_600), ("paper_checkpoint_layout.json", 64, 382_528)],
)
def test_parameters_map_one_to_one_onto_original_layout(layout_file, base, unused_encoder_params):
    from n2ldiff.config import ModelConfig, PipelineConfig
    from n2ldiff.models.n2ldiff import N2LDiff

    entries = _layout(layout_file)
    model = N2LDiff(PipelineConfig(model=ModelConfig(base_channels=base)))
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    mapped: dict[str, str] = {}
    dropped = 0
    for entry in entries:
        new_key = map_original_key(entry["key"])
        if new_key is None:
            if entry["kind"] == "parameter":
                dropped += torch.Size(entry["shape"]).numel()
            continue
        assert new_key not in mapped, f"{entry['key']} and {mapped[new_key]} map to the same {new_key}"
        mapped[new_key] = entry["key"]
        assert ours[new_key] == tuple(entry["shape"]), entry["key"]
    assert set(mapped) == set(ours)  # every one of our tensors has exactly one original
    assert dropped == unused_encoder_params  # only the encoder's unused time MLPs are left out
    if layout_file.startswith("paper"):
        counts = json.loads((VENDORED_FIXTURE / layout_file).read_text())["counts"]
        total = sum(v.numel() for v in model.parameters())
        assert total == counts["total"]["stored_parameters_incl_weight_g"] - unused_encoder_params
