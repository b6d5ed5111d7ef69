"""Where the two networks run: PyTorch (``torch``, the default), ONNX Runtime (``onnx``) or OpenVINO
(``openvino``).

``sample()`` needs only three things from a model, the ``Networks`` interface: its ``config``,
``encode(normal, exposure) -> Encoding`` (one pass of the condition encoder) and
``denoise(x_t, t, normal, encoding) -> output`` (one pass of the denoiser). ``N2LDiff`` is the PyTorch
backend as it is; ``OnnxNetworks`` and ``OpenVinoNetworks`` run the same two networks from their ONNX
files. The sampling loop (sampler, noise, tiling) stays in PyTorch, so any number of steps, any sampler and
any model folder (a many-step teacher or a one-step student alike) run on every backend.

The ONNX files are the encoder and the denoiser exported separately, with dynamic batch, height and width
(height and width multiples of the model's stride, as ``tiled_apply`` pads them):

* ``encoder.onnx``: ``normal`` (B x 3 x H x W in [0, 1]) and, for exposure-conditioned models, ``exposure``
  (B) -> ``center``, ``log_noise_std`` (models with a noise-level head), ``exposure_emb`` (exposure-conditioned
  models) and ``feature0`` ... ``feature{L-1}`` (one per level, H / 2^i x W / 2^i);
* ``denoiser.onnx``: ``x_t``, ``t`` (B, int64), ``normal``, ``feature0`` ... and ``exposure_emb`` -> ``output``.

Each file records, in its metadata, the sha256 of the weights it was exported from; a stale file (the model
was retrained or replaced) is never used. ``export_onnx`` writes the pair; ``exported_networks`` finds it in
the model folder or the user cache and exports it there on first use.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from n2ldiff.config import PipelineConfig, to_dict
from n2ldiff.errors import N2LDiffError
from n2ldiff.models.blocks import WeightNormConv2d
from n2ldiff.models.n2ldiff import Encoding, N2LDiff

__all__ = [
    "BACKENDS",
    "ChannelsLastNetworks",
    "ENCODER_FILE",
    "DENOISER_FILE",
    "ExportedNetworks",
    "Networks",
    "OnnxNetworks",
    "OpenVinoNetworks",
    "export_onnx",
    "exported_networks",
    "find_onnx",
    "inference_copy",
    "load_networks",
    "onnx_cache_dir",
    "onnx_metadata",
]

#: The backends ``--backend`` accepts; the first is the default.
BACKENDS = ("torch", "onnx", "openvino")
ENCODER_FILE = "encoder.onnx"
DENOISER_FILE = "denoiser.onnx"
ONNX_FILES = (ENCODER_FILE, DENOISER_FILE)
#: Changes when the graphs' inputs or outputs change; files of another format are re-exported.
ONNX_FORMAT = "n2ldiff-onnx-1"
OPSET = 18


class Networks(Protocol):
    """What ``sample()`` calls: one encoder pass per image, one denoiser pass per sampling step."""

    config: PipelineConfig

    def encode(self, normal: torch.Tensor, exposure: torch.Tensor | None = None) -> Encoding: ...

    def denoise(self, x_t: torch.Tensor, t: torch.Tensor, normal: torch.Tensor, encoding: Encoding) -> torch.Tensor: ...


class ChannelsLastNetworks:
    """The ``torch`` backend on the CPU: the model's weights and every input in channels-last memory order.

    The same arithmetic in another memory layout (outputs equal to float rounding, about 1e-6), which
    oneDNN's CPU convolutions run faster: about 1.3x for the shipped model's passes on the development CPU
    (``benchmarks/runtime_backends.py``). ``model`` itself is converted, in place.
    """

    def __init__(self, model: N2LDiff) -> None:
        self.model = model.to(memory_format=torch.channels_last)
        self.config = model.config

    @staticmethod
    def _last(x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last)

    def encode(self, normal: torch.Tensor, exposure: torch.Tensor | None = None) -> Encoding:
        return self.model.encode(self._last(normal), exposure)

    def denoise(self, x_t: torch.Tensor, t: torch.Tensor, normal: torch.Tensor, encoding: Encoding) -> torch.Tensor:
        return self.model.denoise(self._last(x_t), t, self._last(normal), encoding)


# ----------------------------------------------------------------------------------- graph wrappers
class _InstanceNorm(nn.Module):
    """``InstanceNorm2d(affine=False)`` written out: the same normalisation (biased variance), in three
    reductions that export to ONNX in seconds (the exporter's own decomposition takes minutes)."""

    def __init__(self, eps: float) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        centred = x - x.mean(dim=(2, 3), keepdim=True)
        return centred * torch.rsqrt(centred.square().mean(dim=(2, 3), keepdim=True) + self.eps)


def inference_copy(model: N2LDiff) -> N2LDiff:
    """A copy of ``model`` for inference and export: the same function with simpler layers.

    Weight-normalised convolutions become plain ones holding ``g * v / ||v||`` (computed once instead of at
    every pass) and instance norms (paper-configuration models) an explicit normalisation. The copy is in
    eval mode, on the CPU, without gradients; its outputs equal the model's to float rounding.
    """
    fused = copy.deepcopy(model).cpu().eval()
    for parent in list(fused.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, WeightNormConv2d):
                weight = child.weight.detach()
                conv = nn.Conv2d(weight.shape[1], weight.shape[0], weight.shape[-1], stride=child.stride)
                with torch.no_grad():
                    conv.weight.copy_(weight)
                    conv.bias.copy_(child.bias)
                setattr(parent, name, conv)
            elif isinstance(child, nn.InstanceNorm2d):
                if child.affine or child.track_running_stats:
                    raise N2LDiffError("only instance norms without affine parameters or running stats export")
                setattr(parent, name, _InstanceNorm(child.eps))
    return fused.requires_grad_(False)


def encoder_io(config: PipelineConfig) -> tuple[list[str], list[str]]:
    """(input names, output names) of a model's encoder graph."""
    m = config.model
    inputs = ["normal"] + (["exposure"] if m.exposure_conditioning else [])
    outputs = ["center"] + (["log_noise_std"] if m.noise_level_head else [])
    outputs += ["exposure_emb"] if m.exposure_conditioning else []
    return inputs, outputs + [f"feature{i}" for i in range(len(m.channel_mults))]


def denoiser_io(config: PipelineConfig) -> tuple[list[str], list[str]]:
    """(input names, output names) of a model's denoiser graph."""
    m = config.model
    inputs = ["x_t", "t", "normal"] + [f"feature{i}" for i in range(len(m.channel_mults))]
    return inputs + (["exposure_emb"] if m.exposure_conditioning else []), ["output"]


class _EncoderGraph(nn.Module):
    """``N2LDiff.encode`` with flat tensor inputs and outputs (the order of ``encoder_io``)."""

    def __init__(self, model: N2LDiff) -> None:
        super().__init__()
        self.model = model

    def forward(self, normal: torch.Tensor, *exposure: torch.Tensor) -> tuple[torch.Tensor, ...]:
        encoding = self.model.encode(normal, exposure[0] if exposure else None)
        extra = [x for x in (encoding.log_noise_std, encoding.exposure_emb) if x is not None]
        return (encoding.center, *extra, *encoding.features)


class _DenoiserGraph(nn.Module):
    """``N2LDiff.denoise`` with flat tensor inputs (the order of ``denoiser_io``)."""

    def __init__(self, model: N2LDiff) -> None:
        super().__init__()
        self.model = model
        self.levels = len(model.config.model.channel_mults)

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, normal: torch.Tensor, *rest: torch.Tensor) -> torch.Tensor:
        features, emb = list(rest[: self.levels]), (rest[self.levels] if len(rest) > self.levels else None)
        return self.model.denoiser(x_t, t, normal, features, emb)


# ----------------------------------------------------------------------------------- export
def _metadata(config: PipelineConfig, weights_sha256: str, role: str) -> dict[str, str]:
    import n2ldiff

    return {
        "n2ldiff_format": ONNX_FORMAT,
        "n2ldiff_version": n2ldiff.__version__,
        "n2ldiff_network": role,
        "weights_sha256": weights_sha256,
        "config": json.dumps(to_dict(config), sort_keys=True),
    }


def _export_graphs(model: N2LDiff, folder: Path, weights_sha256: str, opset: int) -> None:
    """Export both graphs of ``model`` into the (empty) ``folder``."""
    import logging
    import warnings

    from torch.export import Dim

    config = model.config
    fused = inference_copy(model)
    levels = len(config.model.channel_mults)
    stride = config.model.size_multiple
    # Examples: batch 2 (a batch of 1 would be fixed at 1), the smallest size the networks take x 2.
    h, w = 4 * stride, 6 * stride
    batch = Dim("batch", min=1, max=4096)
    rows, cols = Dim("rows", min=2, max=65536 // stride), Dim("cols", min=2, max=65536 // stride)

    def spatial(level: int) -> dict[int, Any]:
        scale = stride >> level
        return {0: batch, 2: scale * rows, 3: scale * cols}

    gen = torch.Generator().manual_seed(0)
    normal = torch.rand(2, 3, h, w, generator=gen)
    exposure = torch.tensor([4.0, 2.0])
    enc_in, enc_out = encoder_io(config)
    exposure_args = (exposure,) if config.model.exposure_conditioning else ()
    with torch.no_grad():
        encoding = fused.encode(normal, *exposure_args)
    x_t = torch.randn(2, 3, h, w, generator=gen)
    t = torch.tensor([100, 10])
    den_in, den_out = denoiser_io(config)
    emb_args = (encoding.exposure_emb,) if encoding.exposure_emb is not None else ()
    # Dynamic shapes by parameter of the forward signatures: (normal, *exposure), (x_t, t, normal, *rest).
    # (torch.export leaves an empty *args out of the signature it matches.)
    enc_dynamic: dict[str, Any] = {"normal": spatial(0)}
    if exposure_args:
        enc_dynamic["exposure"] = ({0: batch},)
    rest = (*(spatial(i) for i in range(levels)), *({0: batch} for _ in emb_args))
    den_dynamic = {"x_t": spatial(0), "t": {0: batch}, "normal": spatial(0), "rest": rest}
    jobs = [
        (_EncoderGraph(fused), (normal, *exposure_args), enc_in, enc_out, enc_dynamic, "encoder"),
        (
            _DenoiserGraph(fused),
            (x_t, t, normal, *encoding.features, *emb_args),
            den_in,
            den_out,
            den_dynamic,
            "denoiser",
        ),
    ]
    onnx_logger = logging.getLogger("torch.onnx")
    for module, args, inputs, outputs, dynamic, role in jobs:
        level = onnx_logger.level
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")  # the exporter's deprecation and tracing notes are not the user's
            onnx_logger.setLevel(logging.ERROR)
            try:
                program = torch.onnx.export(
                    module.eval(),
                    args,
                    input_names=inputs,
                    output_names=outputs,
                    dynamic_shapes=dynamic,
                    opset_version=opset,
                    dynamo=True,
                    optimize=True,
                    verbose=False,
                )
            except Exception as err:  # noqa: BLE001 - the exporter raises many kinds; one line for the user
                first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
                raise N2LDiffError(f"ONNX export of the {role} failed: {first}") from err
            finally:
                onnx_logger.setLevel(level)
        assert program is not None
        program.model.metadata_props.update(_metadata(config, weights_sha256, role))
        program.save(str(folder / f"{role}.onnx"))
        _check_exported(folder / f"{role}.onnx", inputs, outputs)


def _check_exported(path: Path, inputs: Sequence[str], outputs: Sequence[str]) -> None:
    """The exporter drops inputs a graph does not use; the runtime relies on every name being there."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    names = ([i.name for i in graph.input], [o.name for o in graph.output])
    if names != (list(inputs), list(outputs)):
        raise N2LDiffError(f"ONNX export of {path.name} gave inputs/outputs {names}, expected {inputs}/{outputs}")


def export_onnx(model: N2LDiff, out_dir: str | Path, weights_sha256: str, opset: int = OPSET) -> tuple[Path, Path]:
    """Write ``encoder.onnx`` and ``denoiser.onnx`` of ``model`` into ``out_dir``; returns their paths.

    ``weights_sha256`` (of the weights file ``model`` was loaded from) is recorded in both files, so a
    loader can tell whether they still belong to a model folder. Both graphs are exported into a hidden
    folder inside ``out_dir`` first and then renamed over the old files, so a failed or killed export leaves
    any earlier files as they were and never a partial one.
    """
    from n2ldiff.files import make_output_dir

    out_dir = make_output_dir(Path(out_dir), "ONNX output folder")
    staged = Path(tempfile.mkdtemp(prefix=".onnx-export.", dir=out_dir))
    try:
        _export_graphs(model, staged, weights_sha256, opset)
        for name in ONNX_FILES:
            os.chmod(staged / name, 0o644)
            os.replace(staged / name, out_dir / name)
    except OSError as err:
        raise N2LDiffError(f"{out_dir}: cannot write the ONNX files ({err.strerror or err})") from None
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    return out_dir / ENCODER_FILE, out_dir / DENOISER_FILE


# ----------------------------------------------------------------------------------- runtimes
def onnx_cache_dir() -> Path:
    """``$N2LDIFF_ONNX_DIR`` if set, else ``~/.cache/n2ldiff/onnx`` (one sub-folder per weights file)."""
    env = os.environ.get("N2LDIFF_ONNX_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "n2ldiff" / "onnx"


def _require(module: str, backend: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise N2LDiffError(
            f"the {backend} backend needs {module} (pip install 'n2ldiff[{backend}]'); or use --backend torch"
        ) from None


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


def onnx_metadata(path: str | Path) -> dict[str, str]:
    """The metadata ``export_onnx`` recorded in an ONNX file (empty for other files); weights are not loaded."""
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as err:  # noqa: BLE001 - protobuf raises its own types for corrupt files
        raise N2LDiffError(f"{path}: not a readable ONNX file ({_first_line(err)})") from None
    return {p.key: p.value for p in model.metadata_props}


def _check_onnx_file(path: Path, role: str, weights_sha256: str | None) -> None:
    meta = onnx_metadata(path)
    if meta.get("n2ldiff_format") != ONNX_FORMAT or meta.get("n2ldiff_network") != role:
        raise N2LDiffError(f"{path}: not an n2ldiff {role} export of format {ONNX_FORMAT} (run n2ldiff export)")
    if weights_sha256 is not None and meta.get("weights_sha256") != weights_sha256:
        raise N2LDiffError(f"{path}: exported from other weights than the model's (run n2ldiff export)")


class ExportedNetworks:
    """The encoder and denoiser of a model run from its ONNX files, behind the ``Networks`` interface.

    Subclasses load the two files into a runtime (``_load``) and run them on NumPy feeds (``_run``). Runs
    on the CPU with ``threads`` intra-op threads (default: PyTorch's thread count). Tensors in and out are
    CPU float32 (``t``: int64). ``weights_sha256``: when given, files exported from other weights are refused.
    """

    backend = ""

    def __init__(
        self,
        config: PipelineConfig,
        encoder: str | Path,
        denoiser: str | Path,
        weights_sha256: str | None = None,
        threads: int | None = None,
    ) -> None:
        self.config = config
        self.encoder_inputs, self.encoder_outputs = encoder_io(config)
        self.denoiser_inputs, _ = denoiser_io(config)
        for path, role in ((Path(encoder), "encoder"), (Path(denoiser), "denoiser")):
            _check_onnx_file(path, role, weights_sha256)
        self._load(Path(encoder), Path(denoiser), threads or torch.get_num_threads())

    def _load(self, encoder: Path, denoiser: Path, threads: int) -> None:
        raise NotImplementedError

    def _run(self, network: str, feed: dict[str, Any]) -> list[Any]:
        """Run ``encoder`` or ``denoiser`` on a feed of NumPy arrays; its outputs in ``*_io`` order."""
        raise NotImplementedError

    def _check_inputs(self, path: Path, found: list[str], expected: list[str]) -> None:
        if found != expected:
            raise N2LDiffError(f"{path}: inputs {found} do not match the model's config.json (run n2ldiff export)")

    @staticmethod
    def _array(x: torch.Tensor, dtype: torch.dtype = torch.float32) -> Any:
        return x.detach().to("cpu", dtype).contiguous().numpy()

    def encode(self, normal: torch.Tensor, exposure: torch.Tensor | None = None) -> Encoding:
        """``N2LDiff.encode`` on this runtime."""
        feed = {"normal": self._array(normal)}
        if self.config.model.exposure_conditioning:
            if exposure is None:
                raise N2LDiffError("this model is conditioned on the exposure ratio: pass exposure=")
            ratios = torch.as_tensor(exposure, dtype=torch.float32).reshape(-1).expand(normal.shape[0])
            feed["exposure"] = self._array(ratios)
        outputs = dict(zip(self.encoder_outputs, self._run("encoder", feed), strict=True))
        tensors = {name: torch.from_numpy(value) for name, value in outputs.items()}
        features = [tensors[f"feature{i}"] for i in range(len(self.config.model.channel_mults))]
        return Encoding(tensors["center"], tensors.get("log_noise_std"), features, tensors.get("exposure_emb"))

    def denoise(self, x_t: torch.Tensor, t: torch.Tensor, normal: torch.Tensor, encoding: Encoding) -> torch.Tensor:
        """``N2LDiff.denoise`` on this runtime."""
        feed = {"x_t": self._array(x_t), "t": self._array(t, torch.int64), "normal": self._array(normal)}
        feed.update({f"feature{i}": self._array(f) for i, f in enumerate(encoding.features)})
        if encoding.exposure_emb is not None:
            feed["exposure_emb"] = self._array(encoding.exposure_emb)
        return torch.from_numpy(self._run("denoiser", feed)[0])


class OnnxNetworks(ExportedNetworks):
    """The ``onnx`` backend: both networks as ONNX Runtime sessions (CPU execution provider)."""

    backend = "onnx"

    def _load(self, encoder: Path, denoiser: Path, threads: int) -> None:
        ort = _require("onnxruntime", "onnx")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.sessions = {}
        for role, path, names in (
            ("encoder", encoder, self.encoder_inputs),
            ("denoiser", denoiser, self.denoiser_inputs),
        ):
            try:
                session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
            except Exception as err:  # noqa: BLE001 - onnxruntime raises its own exception types
                raise N2LDiffError(f"{path}: ONNX Runtime cannot load it ({_first_line(err)})") from None
            self._check_inputs(path, [i.name for i in session.get_inputs()], names)
            self.sessions[role] = session

    def _run(self, network: str, feed: dict[str, Any]) -> list[Any]:
        return self.sessions[network].run(None, feed)


class OpenVinoNetworks(ExportedNetworks):
    """The ``openvino`` backend: both ONNX files compiled by OpenVINO for the CPU, in float32.

    The precision is pinned to f32 (OpenVINO would use bf16 on CPUs that have it), so outputs stay within
    float rounding of PyTorch's; threads are not pinned to cores, so several processes share a machine.
    """

    backend = "openvino"

    def _load(self, encoder: Path, denoiser: Path, threads: int) -> None:
        ov = _require("openvino", "openvino")
        core = ov.Core()
        # No CPU pinning: OpenVINO pins its threads to cores from the first one on, so two worker processes
        # (build-voc --workers 2) would share one core (measured: each 1.8x slower than unpinned).
        settings = {
            "INFERENCE_NUM_THREADS": threads,
            "INFERENCE_PRECISION_HINT": "f32",
            "PERFORMANCE_HINT": "LATENCY",
            "ENABLE_CPU_PINNING": False,
        }
        self.requests = {}
        self.outputs = {}
        for role, path, names in (
            ("encoder", encoder, self.encoder_inputs),
            ("denoiser", denoiser, self.denoiser_inputs),
        ):
            try:
                compiled = core.compile_model(str(path), "CPU", settings)
            except Exception as err:  # noqa: BLE001 - OpenVINO raises RuntimeError subclasses of its own
                raise N2LDiffError(f"{path}: OpenVINO cannot compile it ({_first_line(err)})") from None
            self._check_inputs(path, [port.get_any_name() for port in compiled.inputs], names)
            self.requests[role] = compiled.create_infer_request()
            self.outputs[role] = list(compiled.outputs)

    def _run(self, network: str, feed: dict[str, Any]) -> list[Any]:
        result = self.requests[network].infer(feed)  # outputs are copied out (share_outputs=False)
        return [result[port] for port in self.outputs[network]]


RUNTIMES: dict[str, type[ExportedNetworks]] = {"onnx": OnnxNetworks, "openvino": OpenVinoNetworks}


def find_onnx(folder: str | Path, weights_sha256: str) -> tuple[Path, Path] | None:
    """The (encoder, denoiser) files in ``folder`` if both were exported from these weights, else None."""
    paths = (Path(folder) / ENCODER_FILE, Path(folder) / DENOISER_FILE)
    if not all(p.is_file() for p in paths):
        return None
    try:
        for path, role in zip(paths, ("encoder", "denoiser"), strict=True):
            _check_onnx_file(path, role, weights_sha256)
    except N2LDiffError:
        return None
    return paths


def exported_networks(
    backend: str,
    model: N2LDiff,
    model_dir: str | Path | None,
    weights_sha256: str,
    threads: int | None = None,
    log: Callable[[str], None] | None = None,
) -> ExportedNetworks:
    """``model`` on the ``onnx`` or ``openvino`` runtime, from the ONNX files exported from its weights.

    Looks in ``model_dir`` (``n2ldiff export`` writes there), then in ``onnx_cache_dir()/<sha256>``; when
    neither has them, exports them into the cache first (once, about half a minute for the shipped model).
    ``log(message)`` is told when that happens.
    """
    runtime = RUNTIMES[backend]
    _require("onnxruntime" if backend == "onnx" else "openvino", backend)  # fail before a long export
    _require("onnx", backend)
    found = find_onnx(model_dir, weights_sha256) if model_dir is not None else None
    cache = onnx_cache_dir() / weights_sha256[:32]
    found = found or find_onnx(cache, weights_sha256)
    if found is None:
        _require("onnxscript", backend)
        if log is not None:
            log(f"exporting the networks to ONNX once (about half a minute), into {cache}")
        found = export_onnx(model, cache, weights_sha256)
    return runtime(model.config, *found, weights_sha256=weights_sha256, threads=threads)


def _state_sha256(model: N2LDiff) -> str:
    """A digest of a model's weights (for models that were not loaded from a file)."""
    import hashlib

    digest = hashlib.sha256()
    state = model.state_dict()
    for name in sorted(state):
        digest.update(name.encode())
        digest.update(state[name].detach().cpu().contiguous().numpy().tobytes())
    return "state-" + digest.hexdigest()


def load_networks(
    backend: str,
    model: N2LDiff,
    model_dir: str | Path | None = None,
    weights_sha256: str | None = None,
    device: torch.device | None = None,
    log: Callable[[str], None] | None = None,
) -> Networks:
    """The ``Networks`` that run ``model`` on ``backend`` (``BACKENDS``).

    ``torch`` is ``model`` itself, in channels-last memory order when it is on the CPU (``ChannelsLastNetworks``).
    """
    if backend == "torch":
        on_cpu = all(p.device.type == "cpu" for p in model.parameters())
        return ChannelsLastNetworks(model) if on_cpu else model
    if backend not in RUNTIMES:
        raise N2LDiffError(f"unknown backend {backend!r} (choose from {', '.join(BACKENDS)})")
    if device is not None and device.type != "cpu":
        raise N2LDiffError(f"the {backend} backend runs on the CPU; use --device cpu (got {device})")
    return exported_networks(backend, model, model_dir, weights_sha256 or _state_sha256(model), log=log)
