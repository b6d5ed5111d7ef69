"""Write a ``UtilityResult``: results.json, results.csv, results.md, a bar chart and a grid of enhanced crops.

* ``results.json``: the run record (data, recipe, seeds, exposure, versions, weights SHA-256, skipped
  pairs, timings), per row its settings, synthesis record, summary and every run's per-pair metrics,
  and every pairwise comparison (difference, its sd, whether it exceeds 2 sd).
* ``results.csv``: one line per row with the summary columns.
* ``results.md``: the table (mean ± sd over runs), n2ldiff and ``none`` against every row, and which
  differences exceed 2 sd for every pair of rows.
* ``figures/utility_bars.png``: PSNR, SSIM and LPIPS per row with ± 1 sd error bars.
* ``figures/utility_examples.png``: the same centre crop of a few test pairs (one per line): the target,
  the real low input, then each row's first-seed enhancer output (scaled to the normal image's mean, as
  measured; ``none`` is the scaled input itself).
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

from n2ldiff.benchmark.utility import METRICS, N2LDIFF, NONE, REAL, UtilityResult, compare
from n2ldiff.files import write_text_atomic

__all__ = ["comparisons", "result_to_dict", "summary_rows", "utility_markdown", "write_utility_report"]

_DIGITS = {"psnr": 2, "ssim": 3, "lpips": 3, "psnr_raw": 2}


def _clean(x: Any) -> Any:
    """JSON-safe: NaN/inf -> None, Paths -> str."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, Path):
        return str(x)
    return x


def comparisons(result: UtilityResult) -> list[dict[str, Any]]:
    """Every ordered pair of rows (a before b in the table) and metric: ``compare(a, b, metric)``."""
    out = []
    rows = result.rows
    for i, a in enumerate(rows):
        for b in rows[i + 1 :]:
            for metric, _, _ in METRICS:
                out.append(compare(a, b, metric))
    return out


def result_to_dict(result: UtilityResult) -> dict[str, Any]:
    """Everything in results.json (NaN written as null)."""
    rows = []
    for r in result.rows:
        rows.append(
            {
                "name": r.name,
                "kind": r.kind,
                "settings": r.settings,
                "synthesis": r.synthesis,
                "summary": {m: r.summary(m) for m in (*(k for k, _, _ in METRICS), "psnr_raw")},
                "runs": [run.to_dict() for run in r.runs],
            }
        )
    return _clean(
        {
            "run": result.run,
            "train_pairs": result.train_pairs,
            "test_pairs": result.test_pairs,
            "rows": rows,
            "comparisons": comparisons(result),
        }
    )


def summary_rows(result: UtilityResult) -> list[dict[str, Any]]:
    """One dict per row: the columns of results.csv."""
    out = []
    for r in result.rows:
        line: dict[str, Any] = {"row": r.name, "kind": r.kind, "runs": len(r.runs)}
        for metric in (*(k for k, _, _ in METRICS), "psnr_raw"):
            s = r.summary(metric)
            line[f"{metric}_mean"] = s["mean"]
            line[f"{metric}_sd"] = s["sd"]
        line["seeds"] = " ".join(str(run.seed) for run in r.runs) if r.kind == "trained" else ""
        train_s = [run.train_seconds for run in r.runs if math.isfinite(run.train_seconds)]
        line["train_seconds_mean"] = sum(train_s) / len(train_s) if train_s else math.nan
        line["darkness"] = r.synthesis.get("darkness", "")
        out.append(line)
    return out


def _pm(summary: dict[str, float], digits: int) -> str:
    mean, sd = summary["mean"], summary["sd"]
    if not math.isfinite(mean):
        return "–"
    return f"{mean:.{digits}f}" + (f" ± {sd:.{digits}f}" if math.isfinite(sd) else "")


def _delta(c: dict[str, Any], metric: str) -> str:
    d = c["difference"]
    if not math.isfinite(d):
        return "–"
    text = f"{d:+.{_DIGITS[metric]}f}"
    return f"**{text}**" if c["exceeds_2sd"] else text


def utility_markdown(result: UtilityResult) -> str:
    """The tables of results.md."""
    run = result.run
    recipe = run["recipe"]
    data = run["data"]
    lines = [
        "# Utility benchmark",
        "",
        f"Train: `{data['train']['path']}` ({data['train']['layout']}, split {data['train']['split']}, "
        f"{data['train']['pairs']} pairs); test: `{data['test']['path']}` ({data['test']['layout']}, split "
        f"{data['test']['split']}, {data['test']['pairs']} pairs, real low images); max side "
        f"{data['max_side'] or 'full size'}; exposure for n2ldiff and dark-clean: {run['exposure']}; "
        f"synthesis seed {run['synthesis_seed']}; training seeds {', '.join(map(str, run['seeds']))}.",
        "",
        f"Enhancer: U-Net {recipe['widths']} (pixel-unshuffle {recipe['unshuffle']}, "
        f"{run['enhancer_parameters']:,} parameters), {recipe['steps']} Adam steps (lr {recipe['lr']:g} -> "
        f"{recipe['lr_final']:g}, cosine), batch {recipe['batch']} of {recipe['crop']} px crops, L1, input "
        f"scaled to mean {recipe['input_mean']:g}; the same recipe, initial weights and batches for every row.",
        "",
        "Metrics on the enhanced real test low image against its normal image, after scaling it to the normal "
        "image's mean (the brightness information `none` has); mean ± sd over training runs of the mean over "
        "test pairs. Raw PSNR: the output as predicted (its own brightness).",
        "",
        "| row | PSNR ↑ (dB) | SSIM ↑ | LPIPS ↓ | raw PSNR ↑ (dB) | training lows |",
        "|---|---|---|---|---|---|",
    ]
    for r in result.rows:
        name = f"*{r.name}*" if r.name in (REAL, NONE) else f"`{r.name}`"
        if r.name == REAL:
            lows = "real"
        elif r.name == NONE:
            lows = "no training: low × mean(normal)/mean(low)"
        else:
            lows = f"synthetic; darkness: {r.synthesis.get('darkness', '')}"
        cells = [_pm(r.summary(m), _DIGITS[m]) for m in ("psnr", "ssim", "lpips", "psnr_raw")]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {lows} |")
    lines.append("")

    rows = result.rows
    names = [r.name for r in rows]
    for anchor in (N2LDIFF, NONE):
        if anchor not in names:
            continue
        a = result.row(anchor)
        lines += [
            f"**`{anchor}` against each row** (difference `{anchor}` − row; bold: beyond 2 sd, i.e. "
            "|difference| > 2·sqrt(sd₁² + sd₂²))",
            "",
            "| row | Δ PSNR | Δ SSIM | Δ LPIPS | beyond 2 sd, better: |",
            "|---|---|---|---|---|",
        ]
        for b in rows:
            if b.name == anchor:
                continue
            cs = {m: compare(a, b, m) for m, _, _ in METRICS}
            verdict = ", ".join(f"{label}: {cs[m]['better']}" for m, label, _ in METRICS if cs[m]["exceeds_2sd"])
            lines.append(
                f"| `{b.name}` | " + " | ".join(_delta(cs[m], m) for m, _, _ in METRICS) + f" | {verdict or '–'} |"
            )
        lines.append("")

    lines += [
        "**Every pair of rows** (per metric: ▲ the row beats the column beyond 2 sd, ▼ the column beats the row, "
        "· within 2 sd)",
        "",
    ]
    for metric, label, _ in METRICS:
        lines += [f"{label}:", "", "| | " + " | ".join(f"`{n}`" for n in names) + " |",
                  "|---" * (len(names) + 1) + "|"]  # fmt: skip
        for a in rows:
            cells = []
            for b in rows:
                if a is b:
                    cells.append("")
                    continue
                c = compare(a, b, metric)
                cells.append("·" if not c["exceeds_2sd"] else ("▲" if c["better"] == a.name else "▼"))
            lines.append(f"| `{a.name}` | " + " | ".join(cells) + " |")
        lines.append("")

    skipped = run.get("skipped_pairs", {})
    for split in ("train", "test"):
        items = skipped.get(split, {})
        if items:
            lines.append(f"Skipped {split} pairs ({len(items)}):")
            lines.append("")
            lines += [f"- `{k}`: {v}" for k, v in items.items()]
            lines.append("")
    for split, notes in run.get("notes", {}).items():
        lines += [f"Note ({split}): {n}" for n in notes]
    lines.append(
        f"n2ldiff {run['n2ldiff_version']}, torch {run['torch_version']}, Python {run['python']}, "
        f"device {run['device']} ({run['threads']} threads), {run['seconds']['total'] / 60:.1f} min, {run['time']}."
    )
    lines.append("")
    return "\n".join(lines)


def _save_figure(fig: Any, path: Path) -> Path:
    from n2ldiff.benchmark.report import _save_figure as save

    save(fig, path)
    return path


def plot_bars(result: UtilityResult, path: Path) -> Path:
    """One panel per metric: a bar per row (mean over runs) with ± 1 sd error bars; ``none`` as a line too."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r.name for r in result.rows]
    fig, axes = plt.subplots(1, len(METRICS), figsize=(4.2 * len(METRICS), 3.2 + 0.12 * len(names)))
    colours = ["#444444" if n == REAL else "#bbbbbb" if n == NONE else "#d62728" if n == N2LDIFF else "#1f77b4"
               for n in names]  # fmt: skip
    for ax, (metric, label, higher) in zip(axes, METRICS, strict=True):
        means = [r.summary(metric)["mean"] for r in result.rows]
        sds = [r.summary(metric)["sd"] for r in result.rows]
        sds = [s if math.isfinite(s) else 0.0 for s in sds]
        ax.bar(range(len(names)), means, yerr=sds, color=colours, capsize=3)
        if NONE in names:
            ax.axhline(result.row(NONE).summary(metric)["mean"], color="grey", ls="--", lw=1)
        finite = [m for m in means if math.isfinite(m)]
        if finite:
            lo, hi = min(finite), max(finite)
            pad = max(0.15 * (hi - lo), 1e-3)
            ax.set_ylim(lo - pad - max(sds), hi + pad + max(sds))
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, rotation=60, ha="right", fontsize=7)
        ax.set_title(f"{label} {'↑' if higher else '↓'}")
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle("Enhancer trained on each row's pairs, tested on real low light (mean ± sd over runs)", fontsize=9)
    fig.tight_layout()
    return _save_figure(fig, path)


def plot_examples(result: UtilityResult, path: Path) -> Path:
    """Grid: one column per label of ``result.examples`` (target, input, each row), one row per test pair."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(result.examples)
    n = len(result.example_pairs)
    fig, axes = plt.subplots(n, len(labels), figsize=(1.6 * len(labels), 1.75 * n), squeeze=False)
    for i in range(n):
        for j, label in enumerate(labels):
            ax = axes[i][j]
            ax.imshow(result.examples[label][i].permute(1, 2, 0).clamp(0, 1).numpy())
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(label, fontsize=6)
            if j == 0:
                ax.set_ylabel(result.example_pairs[i], fontsize=7)
    fig.tight_layout(pad=0.2)
    return _save_figure(fig, path)


def write_utility_report(result: UtilityResult, out: str | Path | None = None) -> dict[str, Path]:
    """Write results.json, results.csv, results.md and (if ``config.figures``) the two figures."""
    out = Path(out) if out is not None else result.config.out
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "results.json", "csv": out / "results.csv", "markdown": out / "results.md"}
    write_text_atomic(paths["json"], json.dumps(result_to_dict(result), indent=1, default=str) + "\n")
    rows = summary_rows(result)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()})
    write_text_atomic(paths["csv"], buf.getvalue())
    write_text_atomic(paths["markdown"], utility_markdown(result))
    if result.config.figures:
        paths["bars"] = plot_bars(result, out / "figures" / "utility_bars.png")
        if result.examples:
            paths["examples"] = plot_examples(result, out / "figures" / "utility_examples.png")
    return paths
