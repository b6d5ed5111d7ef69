"""Write a ``BenchmarkResult``: results.json, results.csv, results.md and PNG figures.

* ``results.json``: the run record (config, seeds, per-method settings and weights SHA-256, versions,
  time), the scenes and subsets, per-row paired metrics (per seed and image) and every realism statistic
  with its values over subsets, control-based label, z-scores and ranks.
* ``results.csv``: one line per row (controls, then methods) with summary columns.
* ``results.md``: the two Markdown tables (paired metrics; realism with labels) and the labels' reasons.
* ``figures/examples.png``: normal / real low / noise-free darkening / each method on the same centre
  crop of a few scenes, each with a brightened copy below it so noise and colour are visible.
* ``figures/noise_level.png``: noise std against intensity per channel, real low vs controls and methods.
* ``figures/tone_curves.png``: mean low value against normal intensity per channel (how each row darkens).
"""

from __future__ import annotations

import csv
import json
import math
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from n2ldiff.benchmark.run import CONTROLS, BenchmarkResult
from n2ldiff.files import atomic_path, write_text_atomic
from n2ldiff.metrics.realism import REAL_VS_REAL

__all__ = ["markdown_tables", "result_to_dict", "summary_rows", "write_report"]

ARTIFACT_MEASURES = ("checkerboard", "seed_noise_ratio", "blotch", "exposure_ratio")

_NICE = {
    "nlf_distance": "NLF distance ↓",
    "tone_curve_distance": "tone-curve distance ↓",
    "brightness_error": "brightness error ↓",
    "colour_cast_error": "colour-cast error ↓",
    "kid": "KID ↓",
    "fid": "FID ↓",
    "diversity": "diversity (LPIPS)",
}


def _clean(x: Any) -> Any:
    """JSON-safe: NaN/inf -> None, tensors -> lists, Paths -> str."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, Tensor):
        return _clean(x.tolist())
    if isinstance(x, Path):
        return str(x)
    return x


def _row_order(result: BenchmarkResult) -> list[tuple[str, str]]:
    rows = [(c, "control") for c in CONTROLS]
    rows += [(g.name, "method") for g in result.groups if g.kind == "method"]
    return rows


def result_to_dict(result: BenchmarkResult) -> dict[str, Any]:
    """Everything in results.json (NaN written as null)."""
    groups = []
    for g in result.groups:
        groups.append(
            {
                "name": g.name,
                "kind": g.kind,
                "settings": g.settings,
                "weights_sha256": g.weights_sha256,
                "seconds_per_image": g.seconds_per_image,
                "summary": {m: g.summary(m) for m in ("psnr", "ssim", "lpips")},
                "per_seed_per_image": {"psnr": g.psnr, "ssim": g.ssim, "lpips": g.lpips},
                "diversity_per_image": g.diversity,
                "artifacts": {
                    "checkerboard_median": g.median("checkerboard"),
                    "seed_noise_ratio_median": g.median("seed_noise_ratio"),
                    "blotch_median": g.median("blotch"),
                    "exposure_ratio_median": g.median("exposure_ratio"),
                    "per_image": {
                        "checkerboard": g.checkerboard,
                        "seed_noise_ratio": g.seed_noise_ratio,
                        "blotch": g.blotch,
                        "exposure_ratio": g.exposure_ratio,
                    },
                },
            }
        )
    stats = []
    for s in result.statistics:
        stats.append(
            {
                "name": s.name,
                "description": s.description,
                "label": s.label,
                "reason": s.reason,
                "z": s.z,
                "ranks": s.ranks,
                "rows": {
                    row: {"mean": s.mean_std(row)[0], "std": s.mean_std(row)[1], "subsets": vals}
                    for row, vals in s.values.items()
                },
                "per_scene": s.per_scene,
            }
        )
    return _clean(
        {
            "run": result.run,
            "scenes": result.scenes,
            "subsets": result.subsets,
            "paired_metrics": groups,
            "realism": stats,
        }
    )


def summary_rows(result: BenchmarkResult) -> list[dict[str, Any]]:
    """One dict per row (controls, then methods): the columns of results.csv."""
    rows = []
    for name, kind in _row_order(result):
        row: dict[str, Any] = {"name": name, "kind": kind}
        try:
            g = result.group(name)
        except KeyError:
            g = None
        for metric in ("psnr", "ssim", "lpips"):
            s = g.summary(metric) if g is not None else {"mean": math.nan, "std": math.nan, "seed_std": math.nan}
            row[f"{metric}_mean"], row[f"{metric}_std"], row[f"{metric}_seed_std"] = (
                s["mean"], s["std"], s["seed_std"],
            )  # fmt: skip
        row["seconds_per_image"] = g.seconds_per_image if g is not None else math.nan
        for measure in ARTIFACT_MEASURES:
            row[f"{measure}_median"] = g.median(measure) if g is not None else math.nan
        for st in result.statistics:
            mean, std = st.mean_std(name) if name in st.values else (math.nan, math.nan)
            row[f"{st.name}_mean"], row[f"{st.name}_std"] = mean, std
            row[f"{st.name}_label"] = st.label
            row[f"{st.name}_rank"] = st.ranks.get(name, "")
        rows.append(row)
    return rows


def _fmt(x: float, digits: int) -> str:
    return "–" if x is None or not math.isfinite(x) else f"{x:.{digits}f}"


def _pm(mean: float, std: float, digits: int) -> str:
    if not math.isfinite(mean):
        return "–"
    return _fmt(mean, digits) + ("" if not math.isfinite(std) else f" ± {_fmt(std, digits)}")


def _label_name(name: str, kind: str) -> str:
    return f"*{name}* (control)" if kind == "control" else f"`{name}`"


def markdown_tables(result: BenchmarkResult) -> str:
    """The Markdown report: paired metrics, realism statistics with labels, and the labels' reasons."""
    cfg = result.config
    n_seeds = len(cfg.seeds)
    lines = [
        f"Data: `{cfg.data}` (layout {cfg.layout}, split {cfg.split}), {len(result.scenes)} pairs, "
        f"seeds {', '.join(map(str, cfg.seeds))}; images cropped top-left to multiples of {cfg.size_multiple}"
        + (f" after resizing to at most {cfg.max_side} px" if cfg.max_side else "")
        + f"; device {result.run.get('device')}.",
        "",
    ]
    for note in result.run.get("notes") or []:
        lines += [f"Note: {note}.", ""]
    skipped = result.run.get("skipped_pairs") or {}
    if skipped:
        lines += [
            f"Skipped {len(skipped)} unusable pair(s): "
            + "; ".join(f"`{name}` ({reason})" for name, reason in sorted(skipped.items())),
            "",
        ]
    lines += [
        "**Paired metrics** (synthetic low from the normal image vs the real low image; mean ± std over "
        "images" + (", seed sd = std of the per-seed means" if n_seeds > 1 else "") + ")",
        "",
    ]
    head = ["row", "PSNR ↑ (dB)", "SSIM ↑", "LPIPS ↓"]
    if n_seeds > 1:
        head.append("seed sd (PSNR / SSIM / LPIPS)")
    head.append("s / image")
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for g in [g for g in result.groups if g.kind == "control"] + [g for g in result.groups if g.kind == "method"]:
        sp, ss, sl = g.summary("psnr"), g.summary("ssim"), g.summary("lpips")
        cells = [
            _label_name(g.name, g.kind),
            _pm(sp["mean"], sp["std"], 2),
            _pm(ss["mean"], ss["std"], 3),
            _pm(sl["mean"], sl["std"], 3),
        ]
        if n_seeds > 1:
            cells.append(
                "–" if g.kind == "control"
                else f"{_fmt(sp['seed_std'], 2)} / {_fmt(ss['seed_std'], 3)} / {_fmt(sl['seed_std'], 3)}"
            )  # fmt: skip
        cells.append(_fmt(g.seconds_per_image, 3))
        lines.append("| " + " | ".join(cells) + " |")

    lines += [
        "",
        "**Artifacts and seed variation** (medians over images; metrics/artifacts.py): checkerboard = "
        "Nyquist peak / outer-band median of the high-passed gray spectrum (real photos ~1.3-2, <= 4 wanted); "
        "seed / real noise = per-pixel std across seeds over the real low image's noise in regions flat in the "
        "normal image (0.67-1.5 wanted); blotch = std of the 8x8-averaged difference of two seeds over its "
        "full-resolution std (pixel noise 0.125, <= 0.35 wanted); R = measured mean(normal) / mean(output)",
        "",
        "| row | checkerboard ↓ | seed / real noise | blotch ↓ | R |",
        "|---|---|---|---|---|",
    ]
    for g in [g for g in result.groups if g.kind == "control"] + [g for g in result.groups if g.kind == "method"]:
        cells = [_label_name(g.name, g.kind)] + [
            _fmt(g.median(m), d) for m, d in zip(ARTIFACT_MEASURES, (2, 2, 3, 2), strict=True)
        ]
        lines.append("| " + " | ".join(cells) + " |")

    lines += [
        "",
        f"**Realism** (distance to real low light, lower is closer; per-scene statistics compare half A of "
        f"each image with half B of the real low image of the same scene ({cfg.region_tile}-px checkerboard); "
        f"mean ± std over {result.run.get('n_subsets')} disjoint subsets of scenes; #n = rank among methods, "
        "only for informative statistics)",
        "",
    ]
    stats = result.statistics
    head = ["row"] + [f"{_NICE.get(s.name, s.name)} [{s.label}]" for s in stats]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, kind in _row_order(result):
        cells = [_label_name(name, kind)]
        for s in stats:
            if name not in s.values:
                cells.append("–")
                continue
            mean, std = s.mean_std(name)
            digits = 4 if s.name == "kid" else (1 if s.name == "fid" else 3)
            cell = _pm(mean, std, digits)
            if name in s.ranks:
                cell += f" (#{s.ranks[name]})"
            cells.append(cell)
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Statistics and labels:", ""]
    for s in stats:
        z = ", ".join(f"z({k}) = {_fmt(v, 1)}" for k, v in s.z.items())
        lines.append(
            f"- **{_NICE.get(s.name, s.name)}** — {s.description}. *{s.label}*: {s.reason}" + (f" ({z})." if z else ".")
        )
    lines.append("")
    return "\n".join(lines)


def _save_figure(fig: Any, path: Path) -> None:
    """Save a matplotlib figure as PNG atomically, then close it."""
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=110, format="png")
    finally:
        plt.close(fig)


def _centre_crop(x: Tensor, side: int) -> Tensor:
    h, w = x.shape[-2:]
    s = min(side, h, w)
    top, left = (h - s) // 2, (w - s) // 2
    return x[..., top : top + s, left : left + s]


def _brighten(x: Tensor, target: float = 0.45) -> Tensor:
    return (x * (target / x.mean().clamp_min(1e-4))).clamp(0, 1)


def plot_examples(result: BenchmarkResult, path: Path, crop: int = 256) -> Path:
    """Grid: columns = normal, real low, controls and methods; per scene a row as is and a brightened row."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = [k for k in result.examples if k != "normal"]  # the normal control equals the input
    n_scenes = len(result.examples["real low"])
    fig, axes = plt.subplots(2 * n_scenes, len(cols), figsize=(1.6 * len(cols), 1.6 * 2 * n_scenes), squeeze=False)
    for i in range(n_scenes):
        for j, col in enumerate(cols):
            img = _centre_crop(result.examples[col][i].float(), crop)
            for r, shown in enumerate((img, _brighten(img))):
                ax = axes[2 * i + r][j]
                ax.imshow(shown.permute(1, 2, 0).clamp(0, 1).numpy())
                ax.set_xticks([])
                ax.set_yticks([])
                if i == 0 and r == 0:
                    ax.set_title(col, fontsize=6)
                if j == 0:
                    label = result.scenes[i] + ("\nbrightened" if r else "")
                    ax.set_ylabel(label, fontsize=6)
    fig.tight_layout(pad=0.2)
    _save_figure(fig, path)
    return path


def _plot_curves(
    path: Path,
    curves: dict[str, tuple[Tensor, Tensor, Tensor]],
    xlabel: str,
    ylabel: str,
    log_y: bool,
    min_count: int,
) -> Path:
    """One panel per RGB channel; ``curves`` maps a row to (x, y, count), each (3, B)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.8), sharey=True)
    methods = [n for n in curves if n not in ("real low", *CONTROLS)]
    cmap = plt.get_cmap("tab20")
    for ch, (ax, cname) in enumerate(zip(axes, ("R", "G", "B"), strict=True)):
        for name in ["real low", *[c for c in CONTROLS if c != REAL_VS_REAL and c in curves], *methods]:
            x, y, count = curves[name]
            ok = count[ch] >= min_count
            if name == "real low":
                style = {"color": "black", "lw": 2.5}
            elif name in CONTROLS:
                style = {"color": "grey", "ls": "--", "lw": 1.2}
            else:
                style = {"color": cmap(methods.index(name) % 20), "lw": 1.2}
            ax.plot(x[ch][ok].cpu().numpy(), y[ch][ok].cpu().numpy(), marker=".", ms=3, label=name, **style)
        ax.set_title(f"{cname} channel")
        ax.set_xlabel(xlabel)
        if log_y:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(ylabel)
    axes[-1].legend(fontsize=6, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    _save_figure(fig, path)
    return path


def plot_noise_level(result: BenchmarkResult, path: Path, min_count: int = 50) -> Path:
    """Noise std vs intensity per channel (pooled over scenes and seeds, flat regions of the normal image)."""
    curves = {name: (m.intensity, m.std, m.count) for name, m in result.nlf.items()}
    return _plot_curves(
        path, curves, "local mean intensity of the low image",
        "noise std (flat regions of the normal image)", True, min_count,
    )  # fmt: skip


def plot_tone_curves(result: BenchmarkResult, path: Path, min_count: int = 100) -> Path:
    """Mean low value vs normal intensity per channel (pooled over scenes and seeds)."""
    curves = {}
    for name, t in result.tone.items():
        centres = ((t.edges[:-1] + t.edges[1:]) / 2).expand_as(t.count)
        curves[name] = (centres, t.curve, t.count)
    return _plot_curves(
        path, curves, "intensity of the normal image", "mean intensity of the low image", False, min_count
    )


def write_report(result: BenchmarkResult, out: str | Path | None = None) -> dict[str, Path]:
    """Write results.json, results.csv, results.md and (if ``config.figures``) the two figures."""
    out = Path(out) if out is not None else result.config.out
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": out / "results.json",
        "csv": out / "results.csv",
        "markdown": out / "results.md",
    }
    write_text_atomic(paths["json"], json.dumps(result_to_dict(result), indent=1, default=str) + "\n")
    rows = summary_rows(result)
    with tempfile.SpooledTemporaryFile(mode="w+", newline="") as buf:
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()})
        buf.seek(0)
        write_text_atomic(paths["csv"], buf.read())
    write_text_atomic(paths["markdown"], markdown_tables(result))
    if result.config.figures:
        with torch.no_grad():
            paths["examples"] = plot_examples(result, out / "figures" / "examples.png")
            paths["noise_level"] = plot_noise_level(result, out / "figures" / "noise_level.png")
            paths["tone_curves"] = plot_tone_curves(result, out / "figures" / "tone_curves.png")
    return paths
