"""The CLI explains itself: --version, every option a --help names exists, usual help spelling."""

from __future__ import annotations

import re

import pytest
import typer
from typer.testing import CliRunner

import n2ldiff
from n2ldiff.baselines import list_methods
from n2ldiff.cli import app
from n2ldiff.cli.app import DEVICE_HELP

GROUP = typer.main.get_command(app)
COMMANDS = sorted(GROUP.commands)  # type: ignore[attr-defined]
WIDE = {"COLUMNS": "200", "TERMINAL_WIDTH": "200"}


def _help(*args: str) -> str:
    result = CliRunner().invoke(app, [*args, "--help"], env=WIDE)
    assert result.exit_code == 0, result.output
    return result.output


def _option_names(command) -> set[str]:
    names = {"--help"}
    for param in command.params:
        names.update(getattr(param, "opts", []))
        names.update(getattr(param, "secondary_opts", []))
    return names


def test_version():
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"n2ldiff {n2ldiff.__version__}"


@pytest.mark.parametrize("name", [None, *COMMANDS])
def test_every_option_a_help_mentions_exists(name):
    command = GROUP if name is None else GROUP.commands[name]  # type: ignore[attr-defined]
    text = _help() if name is None else _help(name)
    mentioned = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", text))
    assert mentioned, text
    assert mentioned <= _option_names(command), (name, sorted(mentioned - _option_names(command)))


@pytest.mark.parametrize("name", [None, *COMMANDS])
def test_help_reads_like_a_usual_cli(name):
    text = _help() if name is None else _help(name)
    usage = next(line for line in text.splitlines() if "Usage:" in line)
    assert "{" not in usage and "}" not in usage, usage
    assert not re.search(r"<(bool|int|str|float|path|list\[[a-z]+\])>", text), text


def test_usage_names_the_arguments():
    assert "[OPTIONS] INPUTS..." in _help("generate")
    assert "[OPTIONS] VOC_ROOT OUT_ROOT" in _help("build-voc")


def test_device_help_is_the_same_everywhere():
    with_device = []
    for name in COMMANDS:
        for param in GROUP.commands[name].params:  # type: ignore[attr-defined]
            if "--device" in getattr(param, "opts", []):
                assert param.help == DEVICE_HELP, name
                with_device.append(name)
    assert set(with_device) >= {"generate", "benchmark", "build-voc", "demo"}
    assert "cuda:N" in DEVICE_HELP


def test_simulate_list_prints_the_methods_without_other_arguments():
    result = CliRunner().invoke(app, ["simulate", "--list"])
    assert result.exit_code == 0, result.output
    assert result.output.split() == list_methods()


def test_generate_help_states_the_tile_size_rules_and_defaults():
    text = " ".join(_help("generate").split())
    assert "multiple of the model's stride (8 for the shipped model)" in text
    assert "[default: 768]" in text and "[default: 3407]" in text
    assert "--progress" in text and "--no-progress" in text
