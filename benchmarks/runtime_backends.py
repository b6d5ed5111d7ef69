"""Which runtime runs the default model's two networks fastest on this CPU: a table with ratios (not a test).

    python benchmarks/runtime_backends.py                     # 600x400, 2 threads, 7 interleaved repeats
    python benchmarks/runtime_backends.py --repeats 3 --size 96x64 --skip compile   # quick look

``sample()`` makes one encoder pass per image (``model.encode``) and one denoiser pass per sampling step
(``model.denoise``); this times those two passes, each on the same inputs, for:

* ``eager``: PyTorch as ``N2LDiff`` runs it, contiguous (NCHW) tensors (the ``torch`` backend before issue 17);
* ``eager-fused``: PyTorch on ``inference_copy`` (weight norm folded into the convolutions once);
* ``channels-last``: ``ChannelsLastNetworks``, weights and inputs in channels-last order (the ``torch``
  backend on the CPU);
* ``compile``: ``torch.compile`` (inductor) of the fused copy, compiled for this one size;
* ``onnxruntime``: the exported ``encoder.onnx`` / ``denoiser.onnx`` in ONNX Runtime (the ``onnx`` backend);
* ``openvino``: the same ONNX files compiled by OpenVINO in f32 (the ``openvino`` backend).

A row whose runtime is not installed is skipped with a note.

Candidates are run in turn within each repeat (interleaved), so a change of machine load hits them all;
the table gives medians, the ratio to eager, the time per image at the model's step count (the shipped
model's default is 0: the encoder pass alone) and at one step (encoder + steps x denoiser; the sampler's own
arithmetic is not included), one-off set-up time (export,
compilation) and the largest difference from eager's outputs (center and denoiser output, [0, 1] units).
"""

from __future__ import annotations

import argparse
import copy
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

CANDIDATES = ("eager", "eager-fused", "channels-last", "compile", "onnxruntime", "openvino")


class Candidate:
    """One way to run the encoder and denoiser passes; ``encode()`` / ``denoise()`` return comparable tensors."""

    def __init__(self, name: str, encode: Callable[[], Any], denoise: Callable[[], Any], setup: float) -> None:
        self.name, self.encode, self.denoise, self.setup = name, encode, denoise, setup
        self.times: dict[str, list[float]] = {"encoder": [], "denoiser": []}


def build_candidates(names: list[str], model: Any, inputs: dict[str, torch.Tensor], tmp: Path, threads: int) -> list:
    from n2ldiff.backends import (
        ChannelsLastNetworks,
        OnnxNetworks,
        OpenVinoNetworks,
        export_onnx,
        inference_copy,
    )
    from n2ldiff.errors import N2LDiffError

    normal, exposure, x_t, t = inputs["normal"], inputs.get("exposure"), inputs["x_t"], inputs["t"]
    out: list[Candidate] = []

    def torch_candidate(name: str, net: Any, prepare: Callable[[torch.Tensor], torch.Tensor] = lambda x: x) -> None:
        start = time.perf_counter()
        n, x = prepare(normal), prepare(x_t)
        with torch.no_grad():
            enc = net.encode(n, exposure)
            enc.features = [prepare(f) for f in enc.features]
            net.denoise(x, t, n, enc)  # first calls (compilation for torch.compile)
        setup = time.perf_counter() - start

        def encode() -> Any:
            with torch.no_grad():
                return net.encode(n, exposure).center

        def denoise() -> Any:
            with torch.no_grad():
                return net.denoise(x, t, n, enc)

        out.append(Candidate(name, encode, denoise, setup))

    fused = inference_copy(model)
    if "eager" in names:
        torch_candidate("eager", model)
    if "eager-fused" in names:
        torch_candidate("eager-fused", fused)
    if "channels-last" in names:
        torch_candidate("channels-last", ChannelsLastNetworks(copy.deepcopy(model)))
    if "compile" in names:
        compiled = argparse.Namespace(encode=torch.compile(fused.encode), denoise=torch.compile(fused.denoise))
        torch_candidate("compile", compiled)
    onnx_files: tuple[Path, Path] | None = None
    if {"onnxruntime", "openvino"} & set(names):
        start = time.perf_counter()
        onnx_files = export_onnx(model, tmp / "onnx", "benchmark")
        export_seconds = time.perf_counter() - start
        print(f"ONNX export of both networks: {export_seconds:.1f} s (once per model)")
    for name, runtime in (("onnxruntime", OnnxNetworks), ("openvino", OpenVinoNetworks)):
        if name not in names or onnx_files is None:
            continue
        try:
            start = time.perf_counter()
            nets = runtime(model.config, *onnx_files, threads=threads)
            enc = nets.encode(normal, exposure)
            nets.denoise(x_t, t, normal, enc)
        except N2LDiffError as err:  # the runtime is not installed
            print(f"{name}: row skipped ({err})")
            continue
        out.append(
            Candidate(
                name,
                lambda nets=nets: nets.encode(normal, exposure).center,
                lambda nets=nets, enc=enc: nets.denoise(x_t, t, normal, enc),
                time.perf_counter() - start,
            )
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="model directory (default: the shipped model)")
    parser.add_argument("--size", default="600x400", help="WxH (default 600x400)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=7, help="interleaved repeats (medians are reported)")
    parser.add_argument("--skip", default="", help="comma-separated candidates to leave out")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from n2ldiff.models.n2ldiff import N2LDiff
    from n2ldiff.pipeline import LowLightPipeline, default_model_dir

    pipe = LowLightPipeline.from_pretrained(args.model, device="cpu")
    # The pipeline's own model runs channels-last (the torch backend); eager needs the model as loaded.
    model = N2LDiff.from_pretrained(args.model or default_model_dir())
    steps = pipe.settings().steps
    stride = model.config.model.size_multiple
    w, h = (int(v) for v in args.size.lower().split("x"))
    h, w = -(-h // stride) * stride, -(-w // stride) * stride  # as the pipeline pads
    gen = torch.Generator().manual_seed(0)
    inputs = {"normal": torch.rand(1, 3, h, w, generator=gen), "x_t": torch.randn(1, 3, h, w, generator=gen)}
    # The first timestep of a one-step sampler (any t costs the same; a model may default to 0 steps).
    inputs["t"] = torch.tensor([pipe.settings(steps=1).make_sampler(pipe.diffusion).timesteps[0]])
    if model.config.model.exposure_conditioning:
        inputs["exposure"] = torch.tensor([4.0])
    names = [n for n in CANDIDATES if n not in args.skip.split(",")]
    with tempfile.TemporaryDirectory() as tmp_name:
        candidates = build_candidates(names, model, inputs, Path(tmp_name), args.threads)
        reference = {"encoder": candidates[0].encode(), "denoiser": candidates[0].denoise()}
        diffs = {}
        for c in candidates:
            enc = (c.encode() - reference["encoder"]).abs().max().item() / 2  # centers are in [0, 1]
            den = (c.denoise().contiguous() - reference["denoiser"]).abs().max().item() / 2
            diffs[c.name] = max(enc, den)
        for _ in range(args.repeats):
            for c in candidates:
                for part in ("encoder", "denoiser"):
                    fn = c.encode if part == "encoder" else c.denoise
                    start = time.perf_counter()
                    fn()
                    c.times[part].append(time.perf_counter() - start)

    base = candidates[0]
    base_enc, base_den = (statistics.median(base.times[p]) for p in ("encoder", "denoiser"))
    print(
        f"\nCPU, {args.threads} threads, torch {torch.__version__}; {w}x{h} (padded to the stride {stride}), "
        f"batch 1; medians of {args.repeats} interleaved repeats; model steps: {steps}; ratio = {base.name} / row"
    )
    print(
        "| backend | encoder s | denoiser s | encoder ratio | denoiser ratio "
        f"| s / image (default: {steps} denoiser steps) | ratio | s / image (1 step) | set-up s "
        f"| max diff vs {base.name} |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for c in candidates:
        enc, den = (statistics.median(c.times[p]) for p in ("encoder", "denoiser"))
        per_image, base_image = enc + steps * den, base_enc + steps * base_den
        print(
            f"| {c.name} | {enc:.3f} | {den:.3f} | {base_enc / enc:.2f}x | {base_den / den:.2f}x | {per_image:.2f} "
            f"| {base_image / per_image:.2f}x | {enc + den:.2f} | {c.setup:.1f} | {diffs[c.name]:.1e} |"
        )


if __name__ == "__main__":
    main()
