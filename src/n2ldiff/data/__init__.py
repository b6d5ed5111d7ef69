"""Data: robust image I/O, paired dataset layouts, and the paired training dataset."""

from n2ldiff.data.datasets import PairedDataset, item_generator, paired_crop_flip
from n2ldiff.data.io import (
    IMAGE_EXTENSIONS,
    LoadedImage,
    collect_inputs,
    read_image,
    sha256_file,
    to_tensor,
    write_image,
)
from n2ldiff.data.layouts import LAYOUTS, ImagePair, find_pairs, read_split_csv

__all__ = [
    "IMAGE_EXTENSIONS",
    "LAYOUTS",
    "ImagePair",
    "LoadedImage",
    "PairedDataset",
    "collect_inputs",
    "find_pairs",
    "item_generator",
    "paired_crop_flip",
    "read_image",
    "read_split_csv",
    "sha256_file",
    "to_tensor",
    "write_image",
]
