"""``n2ldiff.model_folder`` and the model save/load built on it (the hostile cases are in the corpus)."""

from __future__ import annotations

import torch

from n2ldiff.model_folder import is_model_file
from n2ldiff.models.n2ldiff import N2LDiff


def test_model_files_are_config_and_safetensors_only():
    assert is_model_file("config.json") and is_model_file("model.safetensors")
    assert is_model_file("model_ema.safetensors") and is_model_file("extra.safetensors")
    for other in ("orig.ckpt", "README.md", "config.json.bak", "notes.txt", "run.json"):
        assert not is_model_file(other)


def test_save_then_load_round_trips_and_keeps_other_files(tiny_model_dir, tmp_path):
    model = N2LDiff.from_pretrained(tiny_model_dir)
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "README.md").write_text("card")
    model.save_pretrained(folder, ema_state=model.state_dict())
    model.save_pretrained(folder)  # a second save without EMA drops the old EMA file, nothing else
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    again = N2LDiff.from_pretrained(folder)
    for key, value in model.state_dict().items():
        assert torch.equal(value, again.state_dict()[key])


class _NeedsRealTensors(N2LDiff):
    """An architecture whose construction reads tensor values (impossible on the meta device)."""

    def __init__(self, config=None):
        if torch.empty(0).device.type == "meta":
            raise NotImplementedError("needs data")
        super().__init__(config)


def test_loading_falls_back_when_a_network_cannot_be_built_on_meta(tiny_model_dir):
    model = _NeedsRealTensors.from_pretrained(tiny_model_dir)
    assert isinstance(model, _NeedsRealTensors)
    reference = N2LDiff.from_pretrained(tiny_model_dir)
    assert all(torch.equal(v, reference.state_dict()[k]) for k, v in model.state_dict().items())
