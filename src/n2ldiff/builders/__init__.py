"""Dataset builders: low-light versions of whole detection datasets (VOC, COCO), sharded and resumable."""

from n2ldiff.builders.shards import ShardResult, ShardTask, build_shard
from n2ldiff.builders.voc import BuildSummary, DatasetImage, build_dataset, build_voc, find_images, image_seed

__all__ = [
    "BuildSummary",
    "DatasetImage",
    "ShardResult",
    "ShardTask",
    "build_dataset",
    "build_shard",
    "build_voc",
    "find_images",
    "image_seed",
]
