"""``N2LDiff``: the two networks (condition encoder + denoising U-Net) and their weights on disk.

A saved model is a directory with ``config.json`` (a ``PipelineConfig``) and ``model.safetensors``
(optionally ``model_ema.safetensors``). Nothing pickled is ever loaded here.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from n2ldiff.config import PipelineConfig, to_dict
from n2ldiff.errors import N2LDiffError
from n2ldiff.models.blocks import ExposureEmbedding, WeightNormConv2d, init_like_original
from n2ldiff.models.encoder import ConditionEncoder
from n2ldiff.models.unet import DenoisingUNet

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
EMA_WEIGHTS_NAME = "model_ema.safetensors"


@dataclass
class Encoding:
    """What the condition encoder gives the denoiser and the diffusion.

    ``center``: coarse low-light estimate in [0, 1] (unclamped); ``log_noise_std``: per-pixel log std of the
    low image's sensor noise in the diffusion's [-1, 1] units, or None for models without that head;
    ``features``: the maps fed to the denoiser's levels; ``exposure_emb``: the exposure embedding or None.
    """

    center: torch.Tensor
    log_noise_std: torch.Tensor | None
    features: list[torch.Tensor]
    exposure_emb: torch.Tensor | None

    def detached(self) -> Encoding:
        """The same encoding cut from the encoder's graph (the denoiser's loss does not train the encoder)."""
        return Encoding(
            self.center.detach(),
            None if self.log_noise_std is None else self.log_noise_std.detach(),
            [f.detach() for f in self.features],
            None if self.exposure_emb is None else self.exposure_emb.detach(),
        )


class N2LDiff(nn.Module):
    """Condition encoder + denoiser. ``forward`` is not defined: the diffusion code calls the parts."""

    def __init__(self, config: PipelineConfig | None = None) -> None:
        super().__init__()
        self.config = config or PipelineConfig()
        m = self.config.model
        if m.exposure_conditioning:
            # One embedding for each network, as the time embedding is the denoiser's own.
            self.encoder_exposure = ExposureEmbedding(m.base_channels)
            self.denoiser_exposure = ExposureEmbedding(m.base_channels)
        out = (6 if m.center == "gain" else 3) + (3 if m.noise_level_head else 0)
        embed = m.base_channels if m.exposure_conditioning else None
        self.encoder = ConditionEncoder(
            m.base_channels, m.channel_mults, 12, out, m.weight_norm, m.instance_norm, m.upsample, embed
        )
        self.denoiser = DenoisingUNet(
            m.base_channels, m.channel_mults, 6, 3, m.weight_norm, m.instance_norm, m.upsample
        )
        init_like_original(self)
        if m.noise_level_head:
            with torch.no_grad():
                # Start the noise level near real sensor noise (e^-4.5 = 1.4 8-bit levels) and the denoiser's
                # correction at zero, so an untrained denoiser already samples N(center, s^2).
                self.encoder.head.proj.bias[-3:] = -4.5
                proj = self.denoiser.head.proj
                (proj.weight_g if isinstance(proj, WeightNormConv2d) else proj.weight).zero_()

    def encode(self, normal: torch.Tensor, exposure: torch.Tensor | None = None) -> Encoding:
        """Normal-light image in [0, 1] (and, for exposure-conditioned models, R per row) -> ``Encoding``."""
        m = self.config.model
        encoder_emb = denoiser_emb = None
        if m.exposure_conditioning:
            if exposure is None:
                raise N2LDiffError("this model is conditioned on the exposure ratio: pass exposure=")
            exposure = torch.as_tensor(exposure, dtype=torch.float32, device=normal.device).reshape(-1)
            exposure = exposure.expand(normal.shape[0])
            encoder_emb = self.encoder_exposure(exposure)
            denoiser_emb = self.denoiser_exposure(exposure)
        head, feats = self.encoder(normal, encoder_emb)
        log_std = head[:, -3:] if m.noise_level_head else None
        if m.center == "gain":
            # A local tone/colour map of the normal image, darkened by R: every detail of the photo survives.
            log_r = torch.zeros(normal.shape[0], device=normal.device) if exposure is None else exposure.log()
            gain = torch.exp(head[:, 0:3].clamp(-10, 10) - log_r[:, None, None, None])
            center = normal * gain + 0.1 * head[:, 3:6]
        else:
            center = head[:, :3]
        return Encoding(center, log_std, feats[: len(m.channel_mults)], denoiser_emb)

    def denoise(self, x_t: torch.Tensor, t: torch.Tensor, normal: torch.Tensor, encoding: Encoding) -> torch.Tensor:
        return self.denoiser(x_t, t, normal, encoding.features, encoding.exposure_emb)

    # ----------------------------------------------------------------------------------- persistence
    def save_pretrained(self, directory: str | Path, ema_state: dict[str, torch.Tensor] | None = None) -> Path:
        """Write config.json + model.safetensors (+ model_ema.safetensors) into ``directory``.

        The model is written completely into a temporary sibling folder first. A new ``directory`` is then
        that folder renamed; in an existing one only n2ldiff's own files (``MODEL_FILES``) are swapped in,
        the old ones removed only after every new one is in place; anything else there is kept. A failed
        save (full disk, read-only folder) raises ``N2LDiffError`` and leaves the old model as it was.
        """
        from n2ldiff.model_folder import check_output_location, swap_model_files

        directory = Path(directory)
        check_output_location(directory, "model folder")
        parent = (directory.resolve() if directory.exists() else directory.absolute()).parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
            staged = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", suffix=".n2ldiff-new", dir=parent))
        except OSError as err:
            raise N2LDiffError(f"{directory}: cannot save the model ({err.strerror or err})") from None
        try:
            (staged / CONFIG_NAME).write_text(json.dumps(to_dict(self.config), indent=2) + "\n")
            state = {k: v.detach().contiguous().cpu() for k, v in self.state_dict().items()}
            save_file(state, str(staged / WEIGHTS_NAME), metadata={"format": "n2ldiff"})
            if ema_state is not None:
                ema = {k: v.detach().contiguous().cpu() for k, v in ema_state.items()}
                save_file(ema, str(staged / EMA_WEIGHTS_NAME), metadata={"format": "n2ldiff"})
            # mkdtemp makes a private folder; a saved model is an ordinary, shareable one.
            os.chmod(staged, 0o755)
            for path in staged.iterdir():
                os.chmod(path, 0o644)
            if directory.exists():
                swap_model_files(staged, directory)
            else:
                os.replace(staged, directory)
        except OSError as err:
            raise N2LDiffError(f"{directory}: cannot save the model ({err.strerror or err})") from None
        finally:
            shutil.rmtree(staged, ignore_errors=True)
        return directory

    @classmethod
    def from_pretrained(
        cls, directory: str | Path, use_ema: bool = True, device: str | torch.device = "cpu"
    ) -> N2LDiff:
        """Load a directory written by ``save_pretrained`` or ``n2ldiff convert``.

        EMA weights are used when present and ``use_ema`` is true. Before anything is allocated,
        ``config.json`` is range-checked and the networks it describes are built on the ``meta`` device
        and compared, name by name and shape by shape, with the safetensors header (read without loading
        any tensor), so a hostile or mismatched folder fails with one line and no memory spent.
        """
        from n2ldiff.model_folder import check_weights_match, one_line, read_model_config, safetensors_shapes

        directory = Path(directory)
        config_path = directory / CONFIG_NAME
        if not config_path.is_file():
            raise N2LDiffError(f"{directory}: not a model directory (no {CONFIG_NAME})")
        config = read_model_config(config_path)
        weights = cls.weights_path(directory, use_ema)
        stored = safetensors_shapes(weights)
        model = None
        try:
            with torch.device("meta"):  # shapes only: nothing is allocated, whatever the architecture
                skeleton = cls(config)
        except (NotImplementedError, RuntimeError):  # a network that needs real data to be built
            skeleton = model = cls(config)  # sizes are bounded by the range checks of read_model_config
        check_weights_match(weights, {name: tuple(t.shape) for name, t in skeleton.state_dict().items()}, stored)
        model = model if model is not None else cls(config)
        try:
            state = load_file(str(weights))
        except (SafetensorError, OSError) as err:
            raise N2LDiffError(f"{weights}: unreadable weights ({one_line(err)})") from None
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as err:
            raise N2LDiffError(f"{weights}: weights do not match {CONFIG_NAME} ({one_line(err)})") from None
        return model.to(device).eval()

    @staticmethod
    def weights_path(directory: str | Path, use_ema: bool = True) -> Path:
        directory = Path(directory)
        ema = directory / EMA_WEIGHTS_NAME
        if use_ema and ema.is_file():
            return ema
        plain = directory / WEIGHTS_NAME
        if not plain.is_file():
            raise N2LDiffError(f"{directory}: no {WEIGHTS_NAME}")
        return plain
