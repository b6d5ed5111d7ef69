"""Networks only (no diffusion or training logic)."""

from n2ldiff.models.conditioning import condition_transform
from n2ldiff.models.encoder import ConditionEncoder
from n2ldiff.models.n2ldiff import N2LDiff
from n2ldiff.models.unet import DenoisingUNet

__all__ = ["ConditionEncoder", "DenoisingUNet", "N2LDiff", "condition_transform"]
