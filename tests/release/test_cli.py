"""``lightbox release``: keygen, build, sign, verify and publish through the CLI."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lightbox.release.cli import release_app
from lightbox.release.keys import key_id, load_private_key
from tests.release.wheelfactory import make_release_wheels

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(release_app, list(args))
    return result.exit_code, result.output


def test_keygen_build_sign_verify_publish(tmp_path: Path) -> None:
    code, out = invoke("keygen", "--out-dir", str(tmp_path / "keys"), "--name", "rel")
    assert code == 0, out
    kid = key_id(load_private_key(tmp_path / "keys" / "rel.key"))
    assert kid in out
    make_release_wheels(tmp_path / "wheels", "2.0.0")
    artifact = tmp_path / "lightbox-2.0.0.lbx"
    code, out = invoke(
        "build",
        "--wheels",
        str(tmp_path / "wheels"),
        "--hardware",
        "rpi-arm64",
        "--channel",
        "beta",
        "-o",
        str(artifact),
    )
    assert code == 0, out
    assert "UNSIGNED" in out
    code, out = invoke("publish", str(artifact), "--storage", str(tmp_path / "store"))
    assert code == 1
    assert "sign the artifact" in out
    code, out = invoke("sign", str(artifact), "--key", str(tmp_path / "keys" / "rel.key"))
    assert code == 0, out
    code, out = invoke("verify", str(artifact), "--public-key", str(tmp_path / "keys/rel.pub"))
    assert code == 0, out
    assert "2.0.0" in out
    assert kid in out
    code, out = invoke(
        "verify",
        str(artifact),
        "--trust",
        str(tmp_path / "keys"),
        "--current-version",
        "2.0.0",
    )
    assert code == 1
    assert "downgrade" in out
    code, out = invoke("verify", str(artifact), "--trust", str(tmp_path / "keys"), "--revoked", kid)
    assert code == 1
    assert "revoked_key" in out
    code, out = invoke(
        "publish",
        str(artifact),
        "--storage",
        str(tmp_path / "store"),
        "--trust",
        str(tmp_path / "keys"),
    )
    assert code == 0, out
    stored = tmp_path / "store" / "releases" / "2.0.0" / "lightbox-2.0.0.lbx"
    assert stored.read_bytes() == artifact.read_bytes()
    assert hashlib.sha256(artifact.read_bytes()).hexdigest() in out
    assert "releases/2.0.0/lightbox-2.0.0.lbx" in out


def test_build_needs_exactly_one_source(tmp_path: Path) -> None:
    code, out = invoke("build", "--hardware", "x", "-o", str(tmp_path / "a.lbx"))
    assert code == 2
    assert "exactly one of --wheels and --project" in out


@pytest.mark.slow
def test_build_from_the_real_project_without_dependencies(tmp_path: Path) -> None:
    """The real path: pip builds the LightBox wheel (needs the package index for setuptools)."""
    root = Path(__file__).resolve().parents[2]
    artifact = tmp_path / "real.lbx"
    code, out = invoke(
        "build",
        "--project",
        str(root),
        "--no-deps",
        "--hardware",
        "linux-x86_64",
        "-o",
        str(artifact),
    )
    assert code == 0, out
    assert artifact.stat().st_size > 100_000
