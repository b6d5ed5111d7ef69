"""The package's imports point downward only: a module never imports one of a higher layer.

Every import is checked, also those inside functions (lazy imports still make a dependency). A new
module must be given a layer here; the test fails until it has one.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "n2ldiff"

#: Lowest first. A module may import modules of its own layer or of lower ones.
LAYERS: list[tuple[str, ...]] = [
    # foundations: no n2ldiff imports above them
    (
        "n2ldiff",
        "n2ldiff.errors",
        "n2ldiff.files",
        "n2ldiff.config",
        "n2ldiff.defaults",
        "n2ldiff.exposure",
        "n2ldiff.seeds",
        "n2ldiff.tiling",
        "n2ldiff.image_noise",
    ),  # fmt: skip
    # reading and writing images, dataset layouts
    ("n2ldiff.data",),
    # networks (and their model folders), the diffusion process and samplers, physics baselines, metrics
    # (and where the networks run: PyTorch, ONNX Runtime, OpenVINO)
    (
        "n2ldiff.models",
        "n2ldiff.model_folder",
        "n2ldiff.backends",
        "n2ldiff.diffusion",
        "n2ldiff.baselines",
        "n2ldiff.metrics",
    ),  # fmt: skip
    # a trained model in use: sampling, the pipeline and what sits beside it
    ("n2ldiff.sampling", "n2ldiff.pipeline", "n2ldiff.transforms", "n2ldiff.convert", "n2ldiff.training"),
    # the engine: methods over image files
    ("n2ldiff.inference",),
    # users of the engine
    ("n2ldiff.builders", "n2ldiff.benchmark", "n2ldiff.demo"),
    # the command line
    ("n2ldiff.cli", "n2ldiff.__main__"),
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> int | None:
    """The layer of the longest listed prefix of ``module`` (``n2ldiff.data.io`` -> ``n2ldiff.data``)."""
    best: tuple[int, int] | None = None
    for index, names in enumerate(LAYERS):
        for name in names:
            matches = module == name or module.startswith(name + ".")
            if matches and (best is None or len(name) > best[0]):
                best = (len(name), index)
    return None if best is None else best[1]


def imported_modules(path: Path, module: str) -> list[tuple[int, str]]:
    """(line, module) of every n2ldiff import in the file, relative imports resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            # ``from n2ldiff.demo import results`` imports the module n2ldiff.demo.results
            found += [(node.lineno, f"{target}.{alias.name}") for alias in node.names]
    return [(line, name) for line, name in found if name == "n2ldiff" or name.startswith("n2ldiff.")]


def _resolve(name: str) -> str:
    """``n2ldiff.errors.N2LDiffError`` -> ``n2ldiff.errors``: the longest prefix that is a module."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = PACKAGE.parent.joinpath(*parts[:end])
        if candidate.with_suffix(".py").is_file() or (candidate / "__init__.py").is_file():
            return ".".join(parts[:end])
    return name


def test_every_module_has_a_layer():
    missing = [module_name(p) for p in sorted(PACKAGE.rglob("*.py")) if layer_of(module_name(p)) is None]
    assert not missing, f"give these modules a layer in tests/test_layers.py: {missing}"


def test_imports_point_downward_only():
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = module_name(path)
        own = layer_of(module)
        for line, name in imported_modules(path, module):
            target = _resolve(name)
            other = layer_of(target)
            if own is not None and other is not None and other > own:
                where = f"{path.relative_to(PACKAGE.parent)}:{line}"
                upward.append(f"{where}: {module} (layer {own}) imports {target} (layer {other})")
    assert not upward, "imports from a lower layer to a higher one:\n" + "\n".join(upward)


def test_the_checker_sees_an_upward_import(tmp_path):
    # the walk itself works: a lazy import inside a function is found and resolved
    source = tmp_path / "probe.py"
    source.write_text("def f():\n    from n2ldiff.pipeline import LowLightPipeline\n")
    found = imported_modules(source, "n2ldiff.data.probe")
    assert found == [(2, "n2ldiff.pipeline.LowLightPipeline")]
    assert layer_of(_resolve(found[0][1])) > layer_of("n2ldiff.data.probe")
