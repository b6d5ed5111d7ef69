"""The small low-light enhancer of the utility benchmark: a compact U-Net, its fixed recipe, training, use.

The utility benchmark (``n2ldiff.benchmark.utility``) trains this enhancer once per synthesis method and
seed on (low -> normal) pairs and tests it on real low-light photos. Only the training inputs differ
between rows: the network, the recipe and, for a given seed, the initial weights and every batch (pair
indices, crop positions, flips) are identical, so a difference between rows comes from the data.

**Network.** A three-level U-Net (``Recipe.widths``, default 16/32/64 channels; 131,324 parameters)
that runs at half resolution: the image is pixel-unshuffled 2x (3 -> 12 channels) first and the 12-channel
output pixel-shuffled back, which makes a training step about 3x faster on a CPU than the same U-Net at
full resolution. Per level two 3x3 convolutions with LeakyReLU, 2x2 average-pool down, bilinear up + 3x3
convolution, skip connections by concatenation, a 1x1 head. The input is the low image scaled so that
its mean is ``Recipe.input_mean`` (its brightness is taken out, as an enhancer for unknown exposures
must); the network predicts a residual over that input, and the output is the normal image. The head
starts at zero, so before training the enhancer returns its input: the ``none`` reference up to brightness.

**Recipe.** Adam (``lr``, betas 0.9/0.99) with cosine decay to ``lr_final``, L1 loss, ``steps`` steps of
``batch`` random ``crop``x``crop`` crops with random horizontal flips, pair indices drawn uniformly with
replacement. All of it comes from one ``torch.Generator`` seeded with the run seed (``data_order``), and
the weights are initialised under ``torch.manual_seed(seed)``.

Why a plain loop and not Lightning (which ``n2ldiff train`` uses): one run is a few hundred steps of a
0.13 M-parameter network on data already in memory, so Lightning's per-step hooks, logging and checkpoint
machinery would be a noticeable share of the time of about 30 such runs, and the unit of resumption is a
whole run (its result file), not a checkpoint. A plain loop over a precomputed, seeded schedule also makes
"the same data order for every row" a property that is easy to state and to test.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from n2ldiff.errors import N2LDiffError

__all__ = [
    "MAX_PARAMETERS",
    "DataOrder",
    "Recipe",
    "TinyUNet",
    "data_order",
    "enhance",
    "normalise_input",
    "train_enhancer",
]

#: The issue's limit on the enhancer's size.
MAX_PARAMETERS = 500_000


@dataclass(frozen=True)
class Recipe:
    """Everything that defines how an enhancer is trained (recorded in the results, the same for every row)."""

    widths: tuple[int, ...] = (16, 32, 64)
    unshuffle: int = 2
    crop: int = 96
    batch: int = 8
    steps: int = 400
    lr: float = 2e-3
    lr_final: float = 1e-4
    input_mean: float = 0.4
    flips: bool = True

    def __post_init__(self) -> None:
        if len(self.widths) < 2 or any(w < 1 for w in self.widths):
            raise N2LDiffError(f"enhancer widths must be >= 2 positive numbers, got {self.widths}")
        if self.unshuffle < 1 or self.crop < self.unshuffle * 2 ** (len(self.widths) - 1) * 4:
            raise N2LDiffError(f"enhancer crop {self.crop} is too small for {len(self.widths)} levels")
        if self.batch < 1 or self.steps < 1:
            raise N2LDiffError(f"enhancer batch and steps must be >= 1, got {self.batch} and {self.steps}")
        if not (self.lr > 0 and self.lr_final > 0 and self.input_mean > 0):
            raise N2LDiffError("enhancer lr, lr_final and input_mean must be positive")

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["widths"] = list(self.widths)
        d.update({"optimizer": "adam(betas=0.9,0.99)", "schedule": "cosine", "loss": "l1"})
        return d


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1),
        nn.LeakyReLU(0.1),
        nn.Conv2d(cout, cout, 3, padding=1),
        nn.LeakyReLU(0.1),
    )


class TinyUNet(nn.Module):
    """Compact U-Net: input = low image scaled to a fixed mean, output = normal image (residual on the input)."""

    def __init__(self, widths: Sequence[int] = (16, 32, 64), unshuffle: int = 2) -> None:
        super().__init__()
        widths = list(widths)
        self.unshuffle = unshuffle
        self.down = nn.ModuleList()
        cin = 3 * unshuffle**2
        for w in widths:
            self.down.append(_block(cin, w))
            cin = w
        self.up_convs = nn.ModuleList()
        self.up_blocks = nn.ModuleList()
        for w_low, w_high in zip(reversed(widths[:-1]), reversed(widths[1:]), strict=True):
            self.up_convs.append(nn.Conv2d(w_high, w_low, 3, padding=1))
            self.up_blocks.append(_block(2 * w_low, w_low))
        self.head = nn.Conv2d(widths[0], 3 * unshuffle**2, 1)
        # Zero residual at the start: an untrained enhancer returns its (mean-scaled) input, i.e. ``none``.
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        self.multiple = unshuffle * 2 ** (len(widths) - 1)

    def forward(self, x: Tensor) -> Tensor:
        skips = []
        h = F.pixel_unshuffle(x, self.unshuffle) if self.unshuffle > 1 else x
        for i, block in enumerate(self.down):
            if i > 0:
                h = F.avg_pool2d(h, 2)
            h = block(h)
            skips.append(h)
        skips.pop()
        for conv, block in zip(self.up_convs, self.up_blocks, strict=True):
            h = conv(F.interpolate(h, scale_factor=2.0, mode="bilinear", align_corners=False))
            h = block(torch.cat([h, skips.pop()], dim=1))
        r = self.head(h)
        return x + (F.pixel_shuffle(r, self.unshuffle) if self.unshuffle > 1 else r)


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def build_enhancer(recipe: Recipe, seed: int) -> TinyUNet:
    """The enhancer with its initial weights drawn under ``torch.manual_seed(seed)`` (global RNG restored)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = TinyUNet(recipe.widths, recipe.unshuffle)
    n = parameter_count(model)
    if n > MAX_PARAMETERS:
        raise N2LDiffError(f"enhancer widths {recipe.widths} give {n:,} parameters (at most {MAX_PARAMETERS:,})")
    return model


def normalise_input(low: Tensor, input_mean: float) -> Tensor:
    """N x 3 x H x W low images scaled so each has mean ``input_mean`` (per image, over all pixels)."""
    mean = low.float().mean(dim=(1, 2, 3), keepdim=True).clamp_min(1e-4)
    return low.float() * (input_mean / mean)


@dataclass(frozen=True)
class DataOrder:
    """Every batch of a training run: pair index, crop corner (as a fraction of the free range), flip."""

    index: Tensor  # steps x batch, int64
    top: Tensor  # steps x batch, float64 in [0, 1)
    left: Tensor
    flip: Tensor  # steps x batch, bool


def data_order(n_pairs: int, recipe: Recipe, seed: int) -> DataOrder:
    """The batches of a run, a function of (number of pairs, recipe, seed) only: the same for every row."""
    if n_pairs < 1:
        raise N2LDiffError("no training pairs")
    gen = torch.Generator().manual_seed(int(seed))
    shape = (recipe.steps, recipe.batch)
    index = torch.randint(n_pairs, shape, generator=gen)
    top = torch.rand(shape, generator=gen, dtype=torch.float64)
    left = torch.rand(shape, generator=gen, dtype=torch.float64)
    flip = torch.rand(shape, generator=gen) < 0.5
    if not recipe.flips:
        flip = torch.zeros_like(flip)
    return DataOrder(index, top, left, flip)


def _crop(image: Tensor, top: float, left: float, crop: int) -> Tensor:
    h, w = image.shape[-2:]
    y, x = int(top * (h - crop + 1)), int(left * (w - crop + 1))
    return image[..., y : y + crop, x : x + crop]


def _batch(
    lows: Sequence[Tensor],
    normals: Sequence[Tensor],
    means: Tensor,
    order: DataOrder,
    step: int,
    recipe: Recipe,
) -> tuple[Tensor, Tensor]:
    xs, ys = [], []
    for b in range(recipe.batch):
        i = int(order.index[step, b])
        top, left = float(order.top[step, b]), float(order.left[step, b])
        x = _crop(lows[i], top, left, recipe.crop).float() / 255.0
        y = _crop(normals[i], top, left, recipe.crop).float() / 255.0
        # The crop is scaled by its whole image's mean, as a test image is at inference.
        x = x * (recipe.input_mean / means[i])
        if bool(order.flip[step, b]):
            x, y = x.flip(-1), y.flip(-1)
        xs.append(x)
        ys.append(y)
    return torch.stack(xs), torch.stack(ys)


def train_enhancer(
    lows: Sequence[Tensor],
    normals: Sequence[Tensor],
    recipe: Recipe,
    seed: int,
    device: torch.device | str = "cpu",
    progress: Callable[[int, float], None] | None = None,
) -> TinyUNet:
    """Train an enhancer on pairs of uint8 3 x H x W tensors (low -> normal); see the module docstring.

    ``progress(step, loss)`` is called after every step (for a progress bar). Images must be at least
    ``recipe.crop`` pixels on each side.
    """
    if len(lows) != len(normals):
        raise N2LDiffError(f"{len(lows)} low images for {len(normals)} normal images")
    for low, normal in zip(lows, normals, strict=True):
        if low.shape != normal.shape or min(low.shape[-2:]) < recipe.crop:
            raise N2LDiffError(
                f"training pairs must have equal sizes of at least {recipe.crop} px, got "
                f"{tuple(low.shape[-2:])} and {tuple(normal.shape[-2:])}"
            )
    device = torch.device(device)
    means = torch.stack([low.float().mean() / 255.0 for low in lows]).clamp_min(1e-4)
    order = data_order(len(lows), recipe, seed)
    model = build_enhancer(recipe, seed).to(device).train()
    optimiser = torch.optim.Adam(model.parameters(), lr=recipe.lr, betas=(0.9, 0.99))
    for step in range(recipe.steps):
        t = step / max(1, recipe.steps - 1)
        lr = recipe.lr_final + 0.5 * (recipe.lr - recipe.lr_final) * (1 + math.cos(math.pi * t))
        for group in optimiser.param_groups:
            group["lr"] = lr
        x, y = _batch(lows, normals, means, order, step, recipe)
        loss = F.l1_loss(model(x.to(device)), y.to(device))
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        if progress is not None:
            progress(step + 1, float(loss.detach()))
    return model.eval()


@torch.no_grad()
def enhance(model: TinyUNet, low: Tensor, input_mean: float) -> Tensor:
    """N x 3 x H x W low images in [0, 1] -> enhanced images in [0, 1] (any size: reflect-padded inside)."""
    x = normalise_input(low, input_mean)
    h, w = x.shape[-2:]
    m = model.multiple
    ph, pw = (-h) % m, (-w) % m
    if ph or pw:
        mode = "reflect" if ph < h and pw < w else "replicate"
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    device = next(model.parameters()).device
    return model(x.to(device))[..., :h, :w].clamp(0, 1).cpu()
