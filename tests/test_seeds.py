"""One seed syntax and one default for every command, the Python API and the demo."""

from __future__ import annotations

import pytest

from n2ldiff.defaults import DEFAULT_SEEDS
from n2ldiff.errors import N2LDiffError
from n2ldiff.seeds import check_seeds, format_seeds, parse_seeds


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ("3407, 123456", [3407, 123456]),
        ("  7 ", [7]),
        ("1 2,3;4", [1, 2, 3, 4]),
        (["1", "2,3"], [1, 2, 3]),
        (None, list(DEFAULT_SEEDS)),
        ([], list(DEFAULT_SEEDS)),
    ],
)
def test_parse_seeds(values, expected):
    assert parse_seeds(values) == expected


@pytest.mark.parametrize(
    ("values", "message"),
    [("", "no seeds"), (" , ", "no seeds"), ("3, x", "'x'"), ("-1", "0 to 2"), ("5, 5", "duplicates")],
)
def test_parse_seeds_errors(values, message):
    with pytest.raises(N2LDiffError, match=message):
        parse_seeds(values)


def test_check_seeds_and_format():
    assert check_seeds((1, 2)) == [1, 2]
    for bad in ([True], [1.5], [2**63]):
        with pytest.raises(N2LDiffError, match="whole number"):
            check_seeds(bad)
    assert parse_seeds(format_seeds([3407, 9])) == [3407, 9]
