"""``lightbox login | devices | claim | status | set | preset apply | send``: the SDK's CLI.

Device commands reach the LightBox on the LAN when they can (``--local URL --token T``,
or mDNS discovery of ``--device ID`` with ``--token``) and through the cloud otherwise,
and say which path they took ("via LAN 192.168.1.20:80" / "via cloud"). Cloud sign-in is
kept in ``~/.config/lightbox/credentials.json`` (mode 0600; ``$XDG_CONFIG_HOME`` is
honoured).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

__all__ = [
    "claim",
    "credentials_path",
    "devices",
    "login",
    "preset_app",
    "send",
    "set_",
    "status",
]

console = Console()
err_console = Console(stderr=True)
preset_app = typer.Typer(help="Presets of a LightBox.", no_args_is_help=True)
_T = TypeVar("_T")

DeviceOpt = Annotated[
    str | None, typer.Option("--device", help="Device id (default: your only cloud device).")
]
LocalOpt = Annotated[
    str | None, typer.Option("--local", help="The LightBox's LAN address, http://host[:port].")
]
TokenOpt = Annotated[
    str | None,
    typer.Option("--token", envvar="LIGHTBOX_TOKEN", help="Local API token (lbx_...)."),
]
CloudOpt = Annotated[
    str | None, typer.Option("--cloud", help="Cloud URL (default: the one you logged in to).")
]
DiscoverOpt = Annotated[
    bool, typer.Option("--discover/--no-discover", help="Find the LightBox on the LAN by mDNS.")
]


def credentials_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "lightbox" / "credentials.json"


def _load_credentials() -> dict[str, Any]:
    path = credentials_path()
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _save_credentials(data: dict[str, Any]) -> None:
    path = credentials_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=2)
    os.chmod(tmp, 0o600)
    tmp.replace(path)


def _fail(message: str, code: int = 1) -> typer.Exit:
    err_console.print(f"[red]error:[/red] {escape(message)}")
    return typer.Exit(code)


def _run(work: Callable[[], Awaitable[_T]]) -> _T:
    from lightbox.client import LightBoxClientError

    try:
        return asyncio.run(work())  # type: ignore[arg-type]
    except LightBoxClientError as err:
        where = f" ({err.field})" if err.field else ""
        raise _fail(f"{err.detail}{where} [{err.code}]") from err
    except ValueError as err:
        raise _fail(str(err), 2) from err


def _cloud(cloud_url: str | None, device_id: str | None) -> Any:
    from lightbox.client import CloudClient
    from lightbox.cloud.schemas import TokenPair

    creds = _load_credentials()
    url = cloud_url or creds.get("cloud_url")
    if not url or not (creds.get("access_token") or creds.get("refresh_token")):
        return None
    if cloud_url and cloud_url.rstrip("/") != str(creds.get("cloud_url", "")).rstrip("/"):
        return None

    def keep(tokens: TokenPair) -> None:
        creds.update(access_token=tokens.access_token, refresh_token=tokens.refresh_token)
        _save_credentials(creds)

    return CloudClient(
        url,
        access_token=creds.get("access_token"),
        refresh_token=creds.get("refresh_token"),
        device_id=device_id,
        on_tokens=keep,
    )


async def _hybrid(
    device_id: str | None,
    local_url: str | None,
    token: str | None,
    cloud_url: str | None,
    discover: bool,
) -> Any:
    from lightbox.client import ConnectionFailed, HybridClient, LocalClient, Timeout

    cloud = _cloud(cloud_url, device_id)
    local = LocalClient(local_url, token) if local_url else None
    if cloud is not None and device_id is None and local is not None:
        with contextlib.suppress(ConnectionFailed, Timeout):  # the LAN may be down
            device_id = (await local.info()).id
    if cloud is not None and device_id is None:
        mine = await cloud.devices()
        if len(mine) != 1:
            names = ", ".join(d.device_id for d in mine) or "none"
            raise ValueError(f"which device? pass --device (yours: {names})")
        device_id = mine[0].device_id
    if cloud is None and local is None and not (discover and device_id and token):
        raise ValueError(
            "no way to reach a LightBox: pass --local URL --token T, or `lightbox login` "
            "to a cloud first (or --device ID --token T to find it on the LAN)"
        )
    return HybridClient(local, cloud, discover=discover, device_id=device_id, local_token=token)


def _device_call(
    call: Callable[[Any], Awaitable[Any]],
    device_id: str | None,
    local_url: str | None,
    token: str | None,
    cloud_url: str | None,
    discover: bool,
) -> tuple[Any, str]:
    async def work() -> tuple[Any, str]:
        box = await _hybrid(device_id, local_url, token, cloud_url, discover)
        try:
            result = await call(box)
            return result, box.via
        finally:
            await box.aclose()
            for client in (box.local, box.cloud):
                if client is not None:
                    await client.aclose()

    return _run(work)


def _print_result(result: Any, via: str) -> None:
    version = f" (state version {result.version})" if result.version is not None else ""
    console.print(f"ok{version} {via}")


# -- the commands ----------------------------------------------------------------------------


def login(
    cloud: Annotated[str, typer.Option("--cloud", help="The cloud's URL, https://...")],
    email: Annotated[str | None, typer.Option("--email", help="Your account's e-mail.")] = None,
    password: Annotated[
        str | None,
        typer.Option("--password", envvar="LIGHTBOX_PASSWORD", help="(Prompted when left out.)"),
    ] = None,
) -> None:
    """Sign in to a LightBox cloud; the tokens are kept for the other commands."""
    from lightbox.client import CloudClient

    email = email or typer.prompt("e-mail")
    password = password or typer.prompt("password", hide_input=True)

    async def work() -> None:
        async with CloudClient(cloud, email=email, password=password) as client:
            tokens = await client.login()
            _save_credentials(
                {
                    "cloud_url": client.base_url,
                    "email": email,
                    "access_token": tokens.access_token,
                    "refresh_token": tokens.refresh_token,
                }
            )

    _run(work)
    console.print(f"signed in to {cloud} as {email} (kept in {credentials_path()})")


def devices(
    cloud: CloudOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Your devices in the cloud, with online state, last seen and version."""
    client = _cloud(cloud, None)
    if client is None:
        raise _fail("not signed in: run `lightbox login --cloud URL` first", 2)

    async def work() -> list[Any]:
        async with client:
            found: list[Any] = await client.devices()
            return found

    found = _run(work)
    if as_json:
        sys.stdout.write(json.dumps([d.model_dump(mode="json") for d in found], indent=2) + "\n")
        return
    table = Table(title=f"{len(found)} device{'s' * (len(found) != 1)} via cloud")
    for column in ("id", "name", "online", "last seen", "version"):
        table.add_column(column)
    for d in found:
        seen = d.last_seen_at.isoformat(timespec="seconds") if d.last_seen_at else "-"
        table.add_row(d.device_id, d.name, "yes" if d.online else "no", seen, d.version)
    console.print(table)


def claim(
    code: Annotated[str, typer.Argument(help="The code on the matrix, like K7P-2QX.")],
) -> None:
    """Own the LightBox that shows this claim code."""
    client = _cloud(None, None)
    if client is None:
        raise _fail("not signed in: run `lightbox login --cloud URL` first", 2)

    async def work() -> Any:
        async with client:
            return await client.claim(code)

    device = _run(work)
    console.print(f"claimed {device.name} ({device.device_id}) via cloud")


def status(
    device: DeviceOpt = None,
    local: LocalOpt = None,
    token: TokenOpt = None,
    cloud: CloudOpt = None,
    discover: DiscoverOpt = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """A LightBox's facts and state (state via the cloud: what it last published)."""
    from lightbox.client import LightBoxClientError

    async def both(box: Any) -> dict[str, Any]:
        info = await box.info()
        out: dict[str, Any] = {
            "id": info.id,
            "name": info.name,
            "version": info.version,
            "online": info.online,
            "last_seen_at": info.last_seen_at.isoformat() if info.last_seen_at else None,
        }
        if info.details is not None:
            out.update(size=f"{info.details.width}x{info.details.height}")
        try:
            state = await box.state()
        except LightBoxClientError as err:
            out["state"] = None
            out["state_error"] = err.detail
        else:
            out["state"] = state.model_dump(mode="json", by_alias=True)
        return out

    result, via = _device_call(both, device, local, token, cloud, discover)
    if as_json:
        sys.stdout.write(json.dumps({**result, "via": via}, indent=2) + "\n")
        return
    console.print(f"[bold]{result['name']}[/bold] ({result['id']}) {result['version']} {via}")
    console.print(f"online: {'yes' if result['online'] else 'no'}")
    state = result.get("state")
    if state:
        console.print(
            f"power {'on' if state['power'] else 'off'}, brightness {state['brightness']}, "
            f"scene {state['scene'].get('type')} (version {state['version']})"
        )
    elif result.get("state_error"):
        console.print(f"state: {result['state_error']}")


def set_(
    power: Annotated[str | None, typer.Option("--power", help="on or off.")] = None,
    brightness: Annotated[int | None, typer.Option("--brightness", help="0..255.")] = None,
    effect: Annotated[str | None, typer.Option("--effect", help="Effect name.")] = None,
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="Effect parameter k=v (repeat).")
    ] = None,
    text: Annotated[str | None, typer.Option("--text", help="Show this text.")] = None,
    color: Annotated[str | None, typer.Option("--color", help="#rrggbb.")] = None,
    device: DeviceOpt = None,
    local: LocalOpt = None,
    token: TokenOpt = None,
    cloud: CloudOpt = None,
    discover: DiscoverOpt = True,
) -> None:
    """Change power, brightness and/or the scene."""
    from lightbox.client import scene_from, set_command

    if power is not None and power not in ("on", "off"):
        raise _fail("--power takes on or off", 2)
    params: dict[str, Any] = {}
    for item in param or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise _fail(f"--param {item!r}: use key=value", 2)
        try:
            params[key] = json.loads(value)
        except ValueError:
            params[key] = value
    try:
        scene = scene_from(effect=effect, params=params or None, text=text, color=color)
    except ValueError as err:
        raise _fail(str(err), 2) from err
    command = set_command(
        power=None if power is None else power == "on", brightness=brightness, scene=scene
    )
    result, via = _device_call(lambda box: box.send(command), device, local, token, cloud, discover)
    _print_result(result, via)


@preset_app.command("apply")
def preset_apply(
    preset_id: Annotated[str, typer.Argument(help="The preset's id.")],
    device: DeviceOpt = None,
    local: LocalOpt = None,
    token: TokenOpt = None,
    cloud: CloudOpt = None,
    discover: DiscoverOpt = True,
) -> None:
    """Show a preset."""
    result, via = _device_call(
        lambda box: box.apply_preset(preset_id), device, local, token, cloud, discover
    )
    _print_result(result, via)


def send(
    command: Annotated[str, typer.Argument(help='A command as JSON: \'{"type": "identify"}\'.')],
    device: DeviceOpt = None,
    local: LocalOpt = None,
    token: TokenOpt = None,
    cloud: CloudOpt = None,
    discover: DiscoverOpt = True,
) -> None:
    """Send any command (an id is added when it has none)."""
    from lightbox.client import prepare

    try:
        body = prepare(command)
    except ValueError as err:
        raise _fail(f"not a JSON command: {err}", 2) from err
    result, via = _device_call(lambda box: box.send(body), device, local, token, cloud, discover)
    _print_result(result, via)
