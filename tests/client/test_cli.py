"""The CLI on the SDK, against the real stack: login, claim, devices, status, set, preset,
send, each saying which path it took; the LAN cut sends them via the cloud."""

from __future__ import annotations

import asyncio
import json
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from lightbox.cli.client import (
    claim,
    credentials_path,
    devices,
    login,
    preset_app,
    send,
    set_,
    status,
)
from tests.client.stack import Stack, cloud_stack

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def cli() -> typer.Typer:
    """The commands registered as ``lightbox.cli.main`` registers them."""
    app = typer.Typer()
    app.command()(login)
    app.command()(devices)
    app.command()(claim)
    app.command()(status)
    app.command("set")(set_)
    app.add_typer(preset_app, name="preset")
    app.command()(send)
    return app


def scene_type(stack: Stack) -> str:
    assert stack.runtime.service is not None
    return stack.runtime.service.state.scene.type


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    async with cloud_stack(tmp_path) as s:
        yield s


async def test_cli_lan_then_cloud(
    stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    runner = CliRunner()
    app = cli()

    async def run(*args: str) -> str:
        result = await asyncio.to_thread(runner.invoke, app, list(args))
        assert result.exit_code == 0, result.output
        return result.output

    email, password = await stack.user()
    out = await run("login", "--cloud", stack.cloud_url, "--email", email, "--password", password)
    assert "signed in" in out
    mode = stat.S_IMODE(credentials_path().stat().st_mode)
    assert mode == 0o600
    assert "via cloud" in await run("claim", await stack.claim_code())
    listed = json.loads(await run("devices", "--json"))
    assert [d["device_id"] for d in listed] == [stack.device_id]

    lan = ["--local", stack.lan.url, "--token", stack.token, "--no-discover"]
    assert f"via LAN 127.0.0.1:{stack.lan.port}" in await run("set", "--brightness", "21", *lan)
    service = stack.runtime.service
    assert service is not None and service.state.brightness == 21
    out = await run("set", "--effect", "plasma", "--param", "speed=200", *lan)
    assert scene_type(stack) == "effect"
    assert "via LAN" in await run("status", *lan)

    await stack.lan.set("refuse")
    out = await run("set", "--text", "hello", "--color", "#ff0000", *lan)
    assert "via cloud" in out
    assert scene_type(stack) == "text"
    out = await run("send", '{"type": "set", "power": false}', *lan)
    assert "via cloud" in out and service.state.power is False

    result = await asyncio.to_thread(runner.invoke, app, ["preset", "apply", "nope", *lan])
    assert result.exit_code == 1
    assert "not_found" in result.output
