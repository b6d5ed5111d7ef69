"""Data: robust image I/O, paired dataset layouts, and the paired training dataset."""

from n2ldiff.data.datasets import PairedDataset, item_generator, paired_crop_flip
from n2ldiff.data.io import (
    IMAGE_EXTENSIONS,
    InputScan,
    LoadedImage,
    collect_inputs,
    read_image,
    scan_inputs,
    sha256_file,
    to_tensor,
    write_image,
)
from n2ldiff.data.layouts import LAYOUTS, ImagePair, PairScan, find_pairs, read_split_csv, scan_pairs

__all__ = [
    "IMAGE_EXTENSIONS",
    "LAYOUTS",
    "ImagePair",
    "InputScan",
    "LoadedImage",
    "PairScan",
    "PairedDataset",
    "collect_inputs",
    "find_pairs",
    "item_generator",
    "paired_crop_flip",
    "read_image",
    "read_split_csv",
    "scan_inputs",
    "scan_pairs",
    "sha256_file",
    "to_tensor",
    "write_image",
]
