"""Find (normal, low) image pairs in the folder layouts of the public paired low-light datasets.

Layouts (folder names are matched case-insensitively):

* ``lol``: LOL, ``our485/`` (train) and ``eval15/`` (test), each with ``low/`` and ``high/``; files have equal
  names. ``root`` is the dataset folder (then ``split`` picks train/test unless only one exists) or a split
  folder itself.
* ``lolv2``: LOL-v2 ``Real_captured/Train|Test/Low|Normal`` with ``low00001.png`` <-> ``normal00001.png``.
  ``root`` may be the LOL-v2 folder, ``Real_captured`` or a ``Train``/``Test`` folder.
* ``velol``: VE-LOL-L-Cap-Full ``train|test/low|high`` with ``lowNNNN.png`` <-> ``normalNNNN.png``.
  ``root`` may be the dataset folder or a ``train``/``test`` folder.
* ``pairs``: ``low/`` and ``normal/`` with matching file stems (extensions may differ).
* ``csv``: ``root`` is a CSV file with ``normal`` and ``low`` columns (paths relative to the CSV's folder)
  and an optional ``name`` column.
* ``frames``: bracketed exposure series (SICE). ``root`` holds ``frames.csv`` (columns ``scene, file,
  split, role, normal_over_frame_lum``; ``file`` relative to ``root``) and one folder per scene. Every
  frame at least ``FRAMES_MIN_RATIO`` times darker than its scene's ``normal`` frame is paired with it,
  named ``<scene>_<file stem>``; the split is the CSV's own column.

For LOL-v2 and VE-LOL the files are paired by the trailing number of their stems, for the others by stem.

Split: the dataset layouts choose their train/test folder from ``split``. For ``pairs`` and ``csv`` a
``split`` keeps the pairs whose name (file stem) is listed with that split in ``split.csv`` (columns
``scene,split``), looked up next to the data unless ``split_csv`` is given.

Unmatched files (a low image without its normal image or the reverse) raise ``N2LDiffError`` listing
them, unless ``allow_unmatched=True``, which skips them with a warning.

``scan_pairs`` is the lenient form for reports (the benchmark): it never fails on unmatched files or a
missing ``split.csv``; it returns the pairs, the unmatched files, and notes saying what it did (without
``split.csv`` every pair is used, whatever the split).
"""

from __future__ import annotations

import csv
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

from n2ldiff.data.io import IMAGE_EXTENSIONS
from n2ldiff.errors import N2LDiffError

__all__ = ["LAYOUTS", "ImagePair", "PairScan", "find_pairs", "read_split_csv", "scan_pairs"]

LAYOUTS = ("lol", "lolv2", "velol", "pairs", "csv", "frames")
FRAMES_MIN_RATIO = 1 / 0.6  # darker than 0.6x the normal frame's luminance: a low-light frame

_SPLIT_NAMES = {
    "lol": {"train": ("our485",), "test": ("eval15",)},
    "lolv2": {"train": ("Train",), "test": ("Test",)},
    "velol": {"train": ("train",), "test": ("test",)},
}
_LOW_HIGH = {
    "lol": ("low", "high"),
    "lolv2": ("Low", "Normal"),
    "velol": ("low", "high"),
    "pairs": ("low", "normal"),
}
_TRAILING_NUMBER = re.compile(r"(\d+)$")


@dataclass(frozen=True)
class ImagePair:
    """A paired sample: the normal-light image (model input) and the low-light image (target)."""

    name: str
    normal_path: Path
    low_path: Path


def _child(folder: Path, name: str) -> Path | None:
    """``folder/name`` matched case-insensitively, or None."""
    exact = folder / name
    if exact.is_dir():
        return exact
    if not folder.is_dir():
        return None
    for entry in folder.iterdir():
        if entry.is_dir() and entry.name.lower() == name.lower():
            return entry
    return None


def _images(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")
    )


def _split_key(split: str | None) -> str | None:
    if split is None:
        return None
    key = split.lower()
    aliases = {
        "train": "train",
        "training": "train",
        "test": "test",
        "eval": "test",
        "val": "test",
        "valid": "test",
    }
    if key not in aliases:
        raise N2LDiffError(f"unknown split {split!r} (use train or test)")
    return aliases[key]


def _split_folder(root: Path, layout: str, split: str | None) -> Path:
    """The folder that holds the low/normal sub-folders for a dataset layout."""
    low_name, high_name = _LOW_HIGH[layout]
    if _child(root, low_name) and _child(root, high_name):
        return root
    if layout == "lolv2" and _child(root, "Real_captured"):
        root = _child(root, "Real_captured")  # type: ignore[assignment]
    key = _split_key(split)
    candidates = {k: _child(root, names[0]) for k, names in _SPLIT_NAMES[layout].items()}
    present = {k: v for k, v in candidates.items() if v is not None}
    if key is not None:
        folder = present.get(key)
        if folder is None:
            want = _SPLIT_NAMES[layout][key][0]
            raise N2LDiffError(f"{root}: missing folder {want}/ for the {key} split of the {layout} layout")
        return folder
    if len(present) == 1:
        return next(iter(present.values()))
    if not present:
        names = ", ".join(f"{v[0]}/" for v in _SPLIT_NAMES[layout].values())
        raise N2LDiffError(f"{root}: not a {layout} folder (expected {low_name}/ and {high_name}/, or {names})")
    raise N2LDiffError(f"{root}: holds both train and test folders; choose a split (train or test)")


@dataclass
class PairScan:
    """What ``scan_pairs`` found: the pairs, files without a partner, and notes on what it did."""

    pairs: list[ImagePair]
    unmatched: list[Path]
    notes: list[str]


def _match(
    lows: list[Path], normals: list[Path], key_fn, where: str, allow_unmatched: bool, unmatched_out: list[Path]
) -> list[ImagePair]:
    def index(paths: list[Path], what: str) -> dict[str, Path]:
        out: dict[str, Path] = {}
        for p in paths:
            k = key_fn(p)
            if k is None:
                out.setdefault(f"?{p.name}", p)
                continue
            if k in out:
                raise N2LDiffError(f"{where}: {out[k].name} and {p.name} in {what} both match key {k!r}")
            out[k] = p
        return out

    low_by, normal_by = index(lows, "low"), index(normals, "normal")
    unmatched = sorted(
        [str(p) for k, p in low_by.items() if k not in normal_by]
        + [str(p) for k, p in normal_by.items() if k not in low_by]
    )
    unmatched_out.extend(Path(u) for u in unmatched)
    if unmatched and allow_unmatched is not None:
        listing = ", ".join(Path(u).name for u in unmatched[:5]) + (" ..." if len(unmatched) > 5 else "")
        message = f"{where}: {len(unmatched)} unmatched file(s) without a partner: {listing}"
        if not allow_unmatched:
            raise N2LDiffError(message + " (pass allow_unmatched=True to skip them)")
        warnings.warn(message + " (skipped)", stacklevel=4)
    pairs = []
    for k in sorted(set(low_by) & set(normal_by)):
        if k.startswith("?"):
            continue
        normal = normal_by[k]
        pairs.append(ImagePair(name=normal.stem, normal_path=normal, low_path=low_by[k]))
    return pairs


def _stem_key(p: Path) -> str:
    return p.stem


def _number_key(p: Path) -> str | None:
    m = _TRAILING_NUMBER.search(p.stem)
    return str(int(m.group(1))) if m else None


def _folder_pairs(
    folder: Path, layout: str, allow_unmatched: bool | None, unmatched_out: list[Path]
) -> list[ImagePair]:
    low_name, high_name = _LOW_HIGH[layout]
    low_dir, high_dir = _child(folder, low_name), _child(folder, high_name)
    for name, d in ((low_name, low_dir), (high_name, high_dir)):
        if d is None:
            raise N2LDiffError(f"{folder}: missing folder {name}/ of the {layout} layout")
    assert low_dir is not None and high_dir is not None
    key_fn = _number_key if layout in ("lolv2", "velol") else _stem_key
    return _match(_images(low_dir), _images(high_dir), key_fn, str(folder), allow_unmatched, unmatched_out)


def _csv_pairs(csv_path: Path) -> list[ImagePair]:
    if not csv_path.is_file():
        raise N2LDiffError(f"{csv_path}: pairs CSV not found")
    base = csv_path.parent
    with open(csv_path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        fields = set(reader.fieldnames or [])
        if not {"normal", "low"} <= fields:
            raise N2LDiffError(f"{csv_path}: a pairs CSV needs columns 'normal' and 'low' (found {sorted(fields)})")
        pairs, missing = [], []
        for row in reader:
            normal, low = base / row["normal"].strip(), base / row["low"].strip()
            missing += [str(p) for p in (normal, low) if not p.is_file()]
            name = (row.get("name") or "").strip() or normal.stem
            pairs.append(ImagePair(name=name, normal_path=normal, low_path=low))
    if missing:
        raise N2LDiffError(f"{csv_path}: {len(missing)} listed file(s) missing, e.g. {missing[0]}")
    names = [p.name for p in pairs]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise N2LDiffError(f"{csv_path}: pair name {dup!r} appears more than once")
    return pairs


def _frames_pairs(root: Path, split: str | None) -> list[ImagePair]:
    table = root / "frames.csv" if root.is_dir() else root
    if not table.is_file():
        raise N2LDiffError(f"{root}: frames layout needs a frames.csv")
    base = table.parent
    with open(table, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        needed = {"scene", "file", "split", "role", "normal_over_frame_lum"}
        if not needed <= set(reader.fieldnames or []):
            raise N2LDiffError(f"{table}: a frames CSV needs columns {', '.join(sorted(needed))}")
        rows = list(reader)
    normals = {r["scene"]: base / r["file"] for r in rows if r["role"].strip() == "normal"}
    pairs = []
    for r in rows:
        try:
            ratio = float(r["normal_over_frame_lum"])
        except ValueError:
            continue
        scene = r["scene"].strip()
        if r["role"].strip() == "normal" or ratio < FRAMES_MIN_RATIO - 1e-3 or scene not in normals:
            continue
        if split is not None and r["split"].strip().lower() != split.lower():
            continue
        low = base / r["file"]
        pairs.append(ImagePair(name=f"{scene}_{low.stem}", normal_path=normals[scene], low_path=low))
    missing = [str(p) for pair in pairs for p in (pair.normal_path, pair.low_path) if not p.is_file()]
    if missing:
        raise N2LDiffError(f"{table}: {len(missing)} listed file(s) missing, e.g. {missing[0]}")
    return pairs


def read_split_csv(path: str | Path) -> dict[str, str]:
    """``split.csv`` (columns ``scene,split``) as {scene: split}."""
    path = Path(path)
    if not path.is_file():
        raise N2LDiffError(f"{path}: split file not found (without one, set the split to none to use every pair)")
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        if not {"scene", "split"} <= set(reader.fieldnames or []):
            raise N2LDiffError(f"{path}: a split file needs columns 'scene' and 'split'")
        return {row["scene"].strip(): row["split"].strip().lower() for row in reader}


def find_pairs(
    root: str | Path,
    layout: str,
    *,
    split: str | None = None,
    split_csv: str | Path | None = None,
    allow_unmatched: bool = False,
) -> list[ImagePair]:
    """All (normal, low) pairs of ``root`` in ``layout``, sorted by name (see the module docstring)."""
    return _find(root, layout, split, split_csv, allow_unmatched, [], None).pairs


def scan_pairs(
    root: str | Path, layout: str, *, split: str | None = None, split_csv: str | Path | None = None
) -> PairScan:
    """Like ``find_pairs``, but unmatched files and a missing ``split.csv`` are reported, not fatal.

    Unmatched files are returned in ``PairScan.unmatched``. When ``split`` is given for the ``pairs`` or
    ``csv`` layout and there is no ``split.csv`` (and no ``split_csv`` was named), every pair is used
    and a note says so.
    """
    notes: list[str] = []
    return _find(root, layout, split, split_csv, None, [], notes)


def _find(
    root: str | Path,
    layout: str,
    split: str | None,
    split_csv: str | Path | None,
    allow_unmatched: bool | None,
    unmatched: list[Path],
    notes: list[str] | None,
) -> PairScan:
    """``find_pairs`` (``notes`` None: strict) and ``scan_pairs`` (``notes`` a list: lenient) in one."""
    root = Path(root)
    if layout not in LAYOUTS:
        raise N2LDiffError(f"unknown dataset layout {layout!r} (use one of {', '.join(LAYOUTS)})")
    if not root.exists():
        raise N2LDiffError(f"{root}: dataset path not found")
    if layout == "frames":
        pairs = _frames_pairs(root, split)
        base = root
    elif layout == "csv":
        pairs = _csv_pairs(root)
        base = root.parent
    else:
        if not root.is_dir():
            raise N2LDiffError(f"{root}: dataset path is not a folder")
        folder = root if layout == "pairs" else _split_folder(root, layout, split)
        pairs = _folder_pairs(folder, layout, allow_unmatched, unmatched)
        base = root
    if layout in ("pairs", "csv") and (split is not None or split_csv is not None):
        split_path = Path(split_csv) if split_csv is not None else base / "split.csv"
        if notes is not None and split_csv is None and not split_path.exists():
            notes.append(f"{base}: no split.csv, so all {len(pairs)} pairs are used (the {split!r} split is ignored)")
            split = None
        else:
            table = read_split_csv(split_path)
            if split is not None:
                wanted = split.lower()
                pairs = [p for p in pairs if table.get(p.name) == wanted]
    if not pairs:
        what = f" in the {split} split" if split else ""
        raise N2LDiffError(f"{root}: no image pairs found{what} ({layout} layout)")
    return PairScan(sorted(pairs, key=lambda p: p.name), sorted(unmatched), notes if notes is not None else [])
