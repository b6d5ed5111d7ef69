"""``LowLightPipeline``: normal-light images + seeds -> realistic low-light images.

The pipeline owns a trained ``N2LDiff`` (encoder + denoiser), the center-shifted diffusion and a
sampler. It pads images to the network's stride (reflect) and crops back, runs large images through
overlapping tiles, and draws noise from ``PositionalNoise`` so that an image's output depends only on
(image, seed, settings): not on batch size, order, neighbours or tiling.

    >>> pipe = LowLightPipeline.from_pretrained()            # the shipped default model
    >>> low = pipe(pil_image, seeds=[3407, 123456])          # N x 3 x H x W tensor in [0, 1]
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import torch

from n2ldiff.backends import BACKENDS, Networks, load_networks
from n2ldiff.config import DiffusionConfig
from n2ldiff.data.io import to_tensor
from n2ldiff.defaults import DEFAULT_TILE_SIZE
from n2ldiff.diffusion.noise import PositionalNoise
from n2ldiff.diffusion.process import CenterShiftedDiffusion
from n2ldiff.errors import N2LDiffError
from n2ldiff.exposure import Exposure
from n2ldiff.files import sha256_file
from n2ldiff.models.n2ldiff import N2LDiff
from n2ldiff.sampling import SamplingSettings, noise_gains, sample
from n2ldiff.tiling import tiled_apply

__all__ = ["BACKENDS", "LowLightPipeline", "N2LDiffMethod", "SamplingSettings", "default_model_dir", "resolve_device"]


def default_model_dir() -> Path:
    """The model shipped inside the package (``n2ldiff/weights/default``)."""
    return Path(str(resources.files("n2ldiff") / "weights" / "default"))


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cuda`` without a GPU is a user error."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise N2LDiffError("--device cuda requested but no CUDA GPU is available")
    return device


def _note(message: str) -> None:
    print(f"n2ldiff: {message}", file=sys.stderr, flush=True)


class LowLightPipeline:
    """Generate low-light versions of normal-light images with a trained N2LDiff model.

    ``backend``: where the networks run, ``torch`` (default), ``onnx`` (ONNX Runtime) or ``openvino``; the
    last two run on the CPU from the ONNX files of ``n2ldiff export`` in ``model_dir``, else from files
    exported once into a user cache (see ``n2ldiff.backends``). Outputs agree within 1/255.
    """

    def __init__(
        self,
        model: N2LDiff,
        device: str | torch.device = "auto",
        weights_sha256: str | None = None,
        tile_size: int = DEFAULT_TILE_SIZE,
        tile_overlap: int = 64,
        backend: str = "torch",
        model_dir: str | Path | None = None,
    ) -> None:
        if backend not in BACKENDS:
            raise N2LDiffError(f"unknown backend {backend!r} (choose from {', '.join(BACKENDS)})")
        self.device = resolve_device("cpu" if backend != "torch" and str(device) == "auto" else device)
        self.model = model.to(self.device).eval()
        self.weights_sha256 = weights_sha256
        self.backend = backend
        self.networks: Networks = load_networks(backend, self.model, model_dir, weights_sha256, self.device, _note)
        self.diffusion = CenterShiftedDiffusion.from_config(model.config.diffusion).to(self.device)
        multiple = model.config.model.size_multiple
        if tile_size % multiple or tile_overlap >= tile_size:
            raise N2LDiffError(f"tile size must be a multiple of {multiple} and larger than the overlap")
        self.tile_size = tile_size
        self.tile_overlap = tile_overlap

    # ----------------------------------------------------------------------------------- loading
    @classmethod
    def from_pretrained(
        cls,
        directory: str | Path | None = None,
        device: str | torch.device = "auto",
        use_ema: bool = True,
        **kwargs,
    ) -> LowLightPipeline:
        """Load a model directory (``save_pretrained`` / ``n2ldiff convert``); None = the shipped default."""
        directory = Path(directory) if directory is not None else default_model_dir()
        model = N2LDiff.from_pretrained(directory, use_ema=use_ema)
        digest = sha256_file(N2LDiff.weights_path(directory, use_ema))
        return cls(model, device=device, weights_sha256=digest, model_dir=directory, **kwargs)

    def save_pretrained(self, directory: str | Path) -> Path:
        return self.model.save_pretrained(directory)

    @property
    def config(self) -> DiffusionConfig:
        return self.model.config.diffusion

    @property
    def takes_exposure(self) -> bool:
        """Whether the model is conditioned on the exposure ratio R."""
        return self.model.config.model.exposure_conditioning

    def settings(
        self,
        sampler: str | None = None,
        steps: int | None = None,
        eta: float | None = None,
        start: str | None = None,
    ) -> SamplingSettings:
        """Resolve sampling options against the model's defaults (and validate them)."""
        settings = SamplingSettings.resolve(self.config, sampler, steps, eta, start)
        if settings.steps == 0 and not (
            self.model.config.model.noise_level_head and self.config.prediction_type == "preconditioned"
        ):
            raise N2LDiffError("steps=0 (no denoiser pass) needs a model with a noise-level head; give steps >= 1")
        return settings

    def exposures(
        self, images: torch.Tensor, seeds: Sequence[int], exposure: Exposure | str | float | None = None
    ) -> list[float] | None:
        """The exposure ratio R each row will be generated at (None for models without exposure input)."""
        spec = Exposure.parse(exposure)
        if not self.takes_exposure:
            if spec.kind != "auto":
                raise N2LDiffError("this model is not conditioned on the exposure; leave exposure at auto")
            return None
        quantiles = self.model.config.exposure_quantiles
        return [spec.draw(image, seed, quantiles) for image, seed in zip(images, seeds, strict=True)]

    # ----------------------------------------------------------------------------------- sampling
    @torch.no_grad()
    def sample_batch(
        self,
        normal: torch.Tensor,
        noise: PositionalNoise,
        settings: SamplingSettings,
        exposures: Sequence[float] | None = None,
        gains: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Sample one batch whose H and W are already multiples of the network stride. [0,1] -> [0,1].

        ``gains``: per-row noise factors measured on the whole images (``sampling.noise_gains``)."""
        normal = normal.to(self.device, torch.float32)
        exposure = None if exposures is None else torch.tensor(list(exposures), device=self.device)
        return sample(self.networks, self.diffusion, normal, noise, settings, exposure, gains).contiguous()

    @torch.no_grad()
    def generate(
        self,
        images: torch.Tensor,
        seeds: Sequence[int],
        sampler: str | None = None,
        steps: int | None = None,
        eta: float | None = None,
        start: str | None = None,
        exposure: Exposure | str | float | Sequence[float] | None = None,
    ) -> torch.Tensor:
        """N x 3 x H x W in [0, 1] with one seed per row -> N x 3 x H x W low-light images in [0, 1].

        ``exposure``: R as a number, a range ``"2:16"``, ``"auto"`` (None) or one number per row.
        Any H x W: padded by reflection to the stride and cropped back; images larger than the tile size
        are processed in overlapping tiles whose noise is cut from one image-wide noise field.
        """
        if images.ndim != 4 or images.shape[1] != 3:
            raise N2LDiffError(f"expected N x 3 x H x W images, got shape {tuple(images.shape)}")
        if len(seeds) != images.shape[0]:
            raise N2LDiffError(f"{len(seeds)} seeds for {images.shape[0]} images")
        settings = self.settings(sampler, steps, eta, start)
        exposures: list[float] | None
        if isinstance(exposure, (list, tuple)):
            if not self.takes_exposure:
                raise N2LDiffError("this model is not conditioned on the exposure; leave exposure at auto")
            if len(exposure) != images.shape[0]:
                raise N2LDiffError(f"{len(exposure)} exposures for {images.shape[0]} images")
            exposures = [float(Exposure.parse(float(v)).low or 0) for v in exposure]
        else:
            exposures = self.exposures(images, seeds, exposure)
        noise = PositionalNoise(seeds)
        multiple = self.model.config.model.size_multiple
        gains = noise_gains(images.to(torch.float32), settings)  # whole images: the same for every tile

        def run_tile(tile: torch.Tensor, offset: tuple[int, int]) -> torch.Tensor:
            return self.sample_batch(tile, noise.at(offset), settings, exposures, gains).to(tile.device)

        out = tiled_apply(run_tile, images.to(torch.float32), self.tile_size, self.tile_overlap, multiple)
        return out.clamp(0, 1)

    def __call__(
        self,
        images: Any,
        seeds: Sequence[int] | int = 0,
        sampler: str | None = None,
        steps: int | None = None,
        eta: float | None = None,
        start: str | None = None,
        exposure: Exposure | str | float | None = None,
    ) -> torch.Tensor | list[torch.Tensor]:
        """Accepts a PIL image, numpy array, tensor, or a list of them (sizes may differ).

        ``exposure``: how much darker, R = mean(normal) / mean(low): a number (4 = two stops), a range
        ``"2:16"`` (log-uniform per image and seed) or ``"auto"`` (drawn from the distribution of R stored
        with the model). Every image is generated once per seed. Returns N x 3 x H x W (one image or a
        batch; rows are image-major: image 0 with every seed, then image 1, ...) or, for a list of
        differently sized images, a list of such tensors (one per image).
        """
        seed_list = [seeds] if isinstance(seeds, int) else list(seeds)
        if not seed_list:
            raise N2LDiffError("at least one seed is needed")
        kwargs = {"sampler": sampler, "steps": steps, "eta": eta, "start": start, "exposure": exposure}
        if isinstance(images, (list, tuple)):
            tensors = [to_tensor(im) for im in images]
            outs = [self(t, seed_list, **kwargs) for t in tensors]
            if len({tuple(o.shape[-2:]) for o in outs}) == 1:
                return torch.cat(outs)
            return outs
        batch = to_tensor(images)
        if batch.ndim == 3:
            batch = batch[None]
        rows = batch.repeat_interleave(len(seed_list), dim=0)
        return self.generate(rows, seed_list * batch.shape[0], **kwargs)

    def method(self, exposure: Exposure | str | float | None = None, **kwargs: Any) -> N2LDiffMethod:
        """This pipeline as a ``LowLightMethod`` for the file runner (generate/benchmark/build-voc)."""
        spec = Exposure.parse(exposure)
        if spec.kind == "oracle" and not self.takes_exposure:
            raise N2LDiffError("exposure oracle: this model is not conditioned on the exposure")
        if spec.kind not in ("auto", "oracle"):
            self.exposures(torch.zeros(1, 3, 1, 1), [0], spec)  # validates against the model
        return N2LDiffMethod(self, self.settings(**kwargs), spec)


class N2LDiffMethod:
    """Adapter giving a pipeline + fixed settings the runner's ``LowLightMethod`` interface."""

    name = "n2ldiff"

    def __init__(
        self, pipeline: LowLightPipeline, settings: SamplingSettings, exposure: Exposure | None = None
    ) -> None:
        self.pipeline = pipeline
        self.sampling = settings
        self.exposure = exposure or Exposure("auto")

    @property
    def settings(self) -> dict[str, Any]:
        out = self.sampling.as_dict()
        if self.pipeline.takes_exposure:
            out["exposure"] = str(self.exposure)
            if self.exposure.kind == "auto":  # what auto draws from: a recalibrated model must not resume old draws
                out["exposure_quantiles"] = list(self.pipeline.model.config.exposure_quantiles)
        if self.pipeline.backend != "torch":  # recorded when not the default (outputs agree within 1/255)
            out["backend"] = self.pipeline.backend
        return out

    @property
    def weights_sha256(self) -> str | None:
        return self.pipeline.weights_sha256

    def exposures(self, images: torch.Tensor, seeds: list[int]) -> list[float] | None:
        """R per row under this method's exposure setting (recorded in manifests)."""
        return self.pipeline.exposures(images, seeds, self.exposure)

    def __call__(
        self, images: torch.Tensor, seeds: list[int], exposures: Sequence[float] | None = None
    ) -> torch.Tensor:
        """``exposures``: one R per row, overriding the method's setting (the benchmark's oracle)."""
        s = self.sampling
        exposure: Any = list(exposures) if exposures is not None else self.exposure
        return self.pipeline.generate(images, seeds, s.sampler, s.steps, s.eta, s.start, exposure)
