"""Seeds: one syntax and one set of rules for every command, the Python API and the demo.

Text (a command-line value or the demo's seed box) is parsed by ``parse_seeds``: whole numbers separated
by commas and/or spaces, ``"3407, 123456"`` or ``"3407 123456"``; ``--seeds`` may also be repeated.
``check_seeds`` validates any list: at least one seed, each an integer in [0, 2**63), no duplicates.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Iterable, Sequence

from n2ldiff.defaults import DEFAULT_SEEDS
from n2ldiff.errors import N2LDiffError

__all__ = ["DEFAULT_SEEDS", "SEEDS_HELP", "check_seeds", "format_seeds", "parse_seeds"]

MAX_SEED = 2**63
#: The ``--seeds`` help of every command (the command line shows the default, ``DEFAULT_SEEDS``, after it).
SEEDS_HELP = "Seeds, one output per input and seed: whole numbers separated by spaces or commas (--seeds 3407 123456)."


def check_seeds(seeds: Iterable[int]) -> list[int]:
    """``seeds`` as a list of ints, or ``N2LDiffError`` (none, not an integer, out of range, duplicates)."""
    out = []
    for seed in seeds:
        try:
            value = None if isinstance(seed, bool) else operator.index(seed)  # ints, numpy ints; not 1.0
        except TypeError:
            value = None
        if value is None or not 0 <= value < MAX_SEED:
            raise N2LDiffError(f"seed {seed!r} must be a whole number from 0 to 2**63 - 1")
        out.append(value)
    if not out:
        raise N2LDiffError("no seeds given (give at least one, e.g. --seeds 3407)")
    if len(set(out)) != len(out):
        raise N2LDiffError(f"seeds contain duplicates: {', '.join(map(str, out))}")
    return out


def parse_seeds(values: str | Sequence[str] | None, default: Sequence[int] = DEFAULT_SEEDS) -> list[int]:
    """``"3407, 123456"`` or ``["3407", "1,2"]`` -> checked ints; nothing given (``None``, ``[]``) -> ``default``.

    An empty text (the demo's box cleared) is an error, not the default.
    """
    if values is None or (not isinstance(values, str) and len(values) == 0):
        return check_seeds(default)
    texts = [values] if isinstance(values, str) else list(values)
    seeds: list[int] = []
    for text in texts:
        for part in re.split(r"[\s,;]+", str(text).strip()):
            if not part:
                continue
            try:
                seeds.append(int(part))
            except ValueError:
                raise N2LDiffError(f"seed {part!r} is not a whole number (e.g. 3407, 123456)") from None
    return check_seeds(seeds)


def format_seeds(seeds: Iterable[int]) -> str:
    """``[3407, 123456]`` -> ``"3407, 123456"`` (the form ``parse_seeds`` reads)."""
    return ", ".join(str(int(s)) for s in seeds)
