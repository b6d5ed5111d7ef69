"""On-the-fly low-light augmentation for other projects' datasets.

    >>> from n2ldiff.transforms import RandomLowLight
    >>> to_low = RandomLowLight(seed=0)                 # shipped default model, its default sampler
    >>> low = to_low(normal_image)                       # 3 x H x W tensor in [0, 1], new noise per call

Drop it into a torch ``Dataset`` that yields normal-light images (e.g. to train an enhancer on fresh
synthetic pairs every epoch). Cost: one encoder pass plus the sampler's steps (4 with the default model),
about 0.1 s per 256 x 256 image and 1-2 s per 600 x 400 image on a 2-core CPU; for large training runs
pre-generate pairs with ``n2ldiff generate`` (or ``build-voc``) instead.
Each call draws a new seed from the transform's own generator, mixed with
the DataLoader worker's seed, so workers do not repeat each other.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from n2ldiff.data.io import to_tensor


class RandomLowLight:
    """Callable ``normal image -> synthetic low-light image`` (or ``(low, normal)`` with ``return_pair``)."""

    def __init__(
        self,
        model: str | Path | None = None,
        seed: int | None = None,
        sampler: str | None = None,
        steps: int | None = None,
        device: str = "cpu",
        return_pair: bool = False,
        pipeline: Any = None,
        exposure: Any = "auto",
    ) -> None:
        """``exposure``: R per call, a number, a range ``"2:16"`` or ``"auto"`` (see ``n2ldiff.exposure``)."""
        self.model = model
        self.exposure = exposure
        self.sampler = sampler
        self.steps = steps
        self.device = device
        self.return_pair = return_pair
        self._pipeline = pipeline
        self._generator = torch.Generator()
        self._generator.manual_seed(seed if seed is not None else int(torch.seed()) % (2**63))
        self._worker_mixed = False
        self.last_seed: int | None = None

    @property
    def pipeline(self) -> Any:
        if self._pipeline is None:  # loaded lazily, i.e. once per DataLoader worker
            from n2ldiff.pipeline import LowLightPipeline

            self._pipeline = LowLightPipeline.from_pretrained(self.model, device=self.device)
        return self._pipeline

    def _next_seed(self) -> int:
        if not self._worker_mixed:
            info = torch.utils.data.get_worker_info()
            if info is not None:
                offset = int(torch.randint(0, 2**62, (1,), generator=self._generator))
                self._generator.manual_seed((offset + info.seed) % (2**63))
            self._worker_mixed = True
        return int(torch.randint(0, 2**62, (1,), generator=self._generator))

    def __call__(self, image: Any) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        normal = to_tensor(image)
        if normal.ndim == 4:
            raise ValueError("RandomLowLight transforms one image (3 x H x W) at a time")
        self.last_seed = self._next_seed()
        rows = self.pipeline.generate(normal[None], [self.last_seed], self.sampler, self.steps, exposure=self.exposure)
        low = rows[0].to(normal.device)
        return (low, normal) if self.return_pair else low
