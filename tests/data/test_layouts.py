from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from n2ldiff.data.layouts import find_pairs
from n2ldiff.errors import N2LDiffError


def img(path: Path, value: int = 100) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((16, 16, 3), value, np.uint8)).save(path)
    return path


def test_lol_dataset_root_and_split_folder(tmp_path):
    for split, names in (("our485", ["2", "10"]), ("eval15", ["1"])):
        for n in names:
            img(tmp_path / "LOL" / split / "low" / f"{n}.png", 10)
            img(tmp_path / "LOL" / split / "high" / f"{n}.png", 200)
    train = find_pairs(tmp_path / "LOL", "lol", split="train")
    assert [p.name for p in train] == ["10", "2"]
    assert all(p.low_path.parent.name == "low" and p.normal_path.parent.name == "high" for p in train)
    assert train[0].low_path.name == train[0].normal_path.name
    assert [p.name for p in find_pairs(tmp_path / "LOL", "lol", split="test")] == ["1"]
    assert len(find_pairs(tmp_path / "LOL" / "eval15", "lol")) == 1  # the split folder itself
    with pytest.raises(N2LDiffError, match="choose a split"):
        find_pairs(tmp_path / "LOL", "lol")


def test_lolv2_matches_by_number(tmp_path):
    base = tmp_path / "LOL-v2" / "Real_captured"
    for split in ("Train", "Test"):
        for i in (1, 2, 13):
            img(base / split / "Low" / f"low{i:05d}.png")
            img(base / split / "Normal" / f"normal{i:05d}.png")
    pairs = find_pairs(tmp_path / "LOL-v2", "lolv2", split="test")
    assert len(pairs) == 3 and all(p.low_path.parent.parent.name == "Test" for p in pairs)
    for p in pairs:
        assert p.low_path.stem.removeprefix("low") == p.normal_path.stem.removeprefix("normal")
    assert len(find_pairs(base / "Train", "lolv2")) == 3
    assert len(find_pairs(base, "lolv2", split="train")) == 3


def test_velol_matches_by_number_case_insensitive_folders(tmp_path):
    root = tmp_path / "VE-LOL-L-Cap-Full"
    for i in (1, 7):
        img(root / "train" / "low" / f"low{i:04d}.png")
        img(root / "train" / "high" / f"normal{i:04d}.png")
    img(root / "Test" / "Low" / "low0003.png")
    img(root / "Test" / "High" / "normal0003.png")
    assert [p.normal_path.name for p in find_pairs(root, "velol", split="train")] == [
        "normal0001.png",
        "normal0007.png",
    ]
    assert len(find_pairs(root, "velol", split="test")) == 1


def test_pairs_layout_matches_stems_and_reports_unmatched(tmp_path):
    img(tmp_path / "low" / "a.png")
    img(tmp_path / "normal" / "a.jpg")
    img(tmp_path / "low" / "b.png")
    img(tmp_path / "normal" / "b.png")
    pairs = find_pairs(tmp_path, "pairs")
    assert [(p.name, p.normal_path.name, p.low_path.name) for p in pairs] == [
        ("a", "a.jpg", "a.png"),
        ("b", "b.png", "b.png"),
    ]
    img(tmp_path / "low" / "orphan.png")
    with pytest.raises(N2LDiffError, match="1 unmatched.*orphan.png"):
        find_pairs(tmp_path, "pairs")
    with pytest.warns(UserWarning, match="orphan"):
        assert len(find_pairs(tmp_path, "pairs", allow_unmatched=True)) == 2


def test_csv_layout(tmp_path):
    img(tmp_path / "n" / "x.png")
    img(tmp_path / "l" / "x_dark.png")
    csv_path = tmp_path / "pairs.csv"
    csv_path.write_text("normal,low\nn/x.png,l/x_dark.png\n")
    (pair,) = find_pairs(csv_path, "csv")
    assert pair.name == "x" and pair.low_path == tmp_path / "l" / "x_dark.png"
    csv_path.write_text("normal,low\nn/x.png,l/missing.png\n")
    with pytest.raises(N2LDiffError, match="missing"):
        find_pairs(csv_path, "csv")
    csv_path.write_text("scene,low_src\nx,y\n")
    with pytest.raises(N2LDiffError, match="columns 'normal' and 'low'"):
        find_pairs(csv_path, "csv")


def test_errors_name_what_is_missing(tmp_path):
    with pytest.raises(N2LDiffError, match="not found"):
        find_pairs(tmp_path / "nope", "pairs")
    with pytest.raises(N2LDiffError, match="unknown dataset layout"):
        find_pairs(tmp_path, "voc2")
    img(tmp_path / "low" / "a.png")
    with pytest.raises(N2LDiffError, match="missing folder normal/"):
        find_pairs(tmp_path, "pairs")
    with pytest.raises(N2LDiffError, match="not a lol folder"):
        find_pairs(tmp_path, "lol")
    (tmp_path / "normal").mkdir()
    (tmp_path / "low" / "a.png").unlink()
    with pytest.raises(N2LDiffError, match="no image pairs"):
        find_pairs(tmp_path, "pairs")
    img(tmp_path / "LOL" / "our485" / "low" / "1.png")
    img(tmp_path / "LOL" / "our485" / "high" / "1.png")
    with pytest.raises(N2LDiffError, match="eval15/"):
        find_pairs(tmp_path / "LOL", "lol", split="test")


def test_split_csv_filter(tmp_path):
    for name in ("s1", "s2", "s3"):
        img(tmp_path / "low" / f"{name}.jpg")
        img(tmp_path / "normal" / f"{name}.jpg")
    (tmp_path / "split.csv").write_text("scene,split\ns1,train\ns2,test\ns3,train\n")
    assert [p.name for p in find_pairs(tmp_path, "pairs", split="train")] == ["s1", "s3"]
    assert [p.name for p in find_pairs(tmp_path, "pairs", split="test")] == ["s2"]
    assert len(find_pairs(tmp_path, "pairs")) == 3
    (tmp_path / "split.csv").unlink()
    with pytest.raises(N2LDiffError, match="split file not found"):
        find_pairs(tmp_path, "pairs", split="train")


def test_sice_pairs_shared_data(shared_dir):
    root = shared_dir / "data" / "sice_pairs"
    train = find_pairs(root, "pairs", split="train")
    test = find_pairs(root, "pairs", split="test")
    assert len(train) == 171 and len(test) == 34
    assert not {p.name for p in train} & {p.name for p in test}
    assert all(p.low_path.parent.name == "low" and p.normal_path.name == p.low_path.name for p in train)


def test_frames_layout_pairs_every_darker_frame_with_its_scene_normal(tmp_path):
    rows = ["scene,file,split,mean_lum,clip_frac_ge250,role,normal_over_frame_lum"]
    for scene, split in (("s1", "train"), ("s2", "test")):
        (tmp_path / scene).mkdir()
        for name, role, ratio in (("1", "other", 8.0), ("2", "low", 3.0), ("3", "other", 1.2), ("4", "normal", 1.0)):
            Image.new("RGB", (8, 8), (10, 10, 10)).save(tmp_path / scene / f"{name}.jpg")
            rows.append(f"{scene},{scene}/{name}.jpg,{split},0.1,0,{role},{ratio}")
    (tmp_path / "frames.csv").write_text("\n".join(rows) + "\n")
    train = find_pairs(tmp_path, "frames", split="train")
    # Frames 1 and 2 are darker than 1/0.6 of the normal; frame 3 (1.2x) is not low light.
    assert [p.name for p in train] == ["s1_1", "s1_2"]
    assert all(p.normal_path == tmp_path / "s1" / "4.jpg" for p in train)
    assert len(find_pairs(tmp_path, "frames")) == 4
    assert [p.name for p in find_pairs(tmp_path, "frames", split="test")] == ["s2_1", "s2_2"]
    (tmp_path / "s2" / "1.jpg").unlink()
    with pytest.raises(N2LDiffError, match="missing"):
        find_pairs(tmp_path, "frames")
