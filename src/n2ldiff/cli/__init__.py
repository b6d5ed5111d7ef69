"""Command-line interface: ``n2ldiff --help`` lists the commands.

Each command lives in its own module and registers itself on the shared ``app``.
"""

import sys

# Importing a command module registers its commands (keep this list sorted).
from n2ldiff.cli import (
    benchmark,  # noqa: E402,F401
    build_voc,  # noqa: E402,F401
    convert,  # noqa: E402,F401
    demo,  # noqa: E402,F401
    export,  # noqa: E402,F401
    generate,  # noqa: E402,F401
    train,  # noqa: E402,F401
    utility,  # noqa: E402,F401
    weights,  # noqa: E402,F401
)
from n2ldiff.cli.app import app

# Options that take several values after one flag (``--seeds 3407 123456``); click wants the flag
# repeated, so the values are spread out before parsing.
MULTI_VALUE_OPTIONS = ("--seeds", "-s")


def spread_multi_value_options(argv: list[str]) -> list[str]:
    """``["--seeds", "1", "2", "x.png"]`` -> ``["--seeds", "1", "--seeds", "2", "x.png"]``.

    Only integer tokens are taken as extra values, so an input file named like a number must be
    written as a path (``./123``).
    """
    out: list[str] = []
    i = 0
    while i < len(argv):
        token = argv[i]
        out.append(token)
        i += 1
        if token in MULTI_VALUE_OPTIONS and i < len(argv):
            out.append(argv[i])
            i += 1
            while i < len(argv) and argv[i].lstrip("-").isdigit():
                out += [token, argv[i]]
                i += 1
    return out


def main() -> None:
    app(args=spread_multi_value_options(sys.argv[1:]))


__all__ = ["app", "main"]
