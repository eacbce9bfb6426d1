"""The WebSocket: auth, hello, pushed state and changes, commands, errors, live preview."""

from __future__ import annotations

import asyncio
import json
import struct
import time
from typing import Any

import httpx
import numpy as np
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from lightbox.edge.api import ws as ws_module
from tests.edge.api.conftest import HEIGHT, WIDTH, Box

CUT = {"kind": "cut", "duration_ms": 0}


def ws_url(box: Box) -> str:
    return box.url.replace("http://", "ws://") + "/api/v1/ws"


async def receive_json(conn: ClientConnection) -> dict[str, Any]:
    """The next JSON message (binary preview frames are skipped), within 5 s."""
    async with asyncio.timeout(5):
        while True:
            message = await conn.recv()
            if isinstance(message, str):
                data: dict[str, Any] = json.loads(message)
                return data


async def receive_until(conn: ClientConnection, kind: str, **match: Any) -> dict[str, Any]:
    while True:
        message = await receive_json(conn)
        if message["type"] == kind and all(message.get(k) == v for k, v in match.items()):
            return message


async def open_ws(box: Box) -> ClientConnection:
    conn = await connect(ws_url(box), additional_headers=box.headers())
    hello = await receive_json(conn)
    assert hello["type"] == "hello"
    return conn


async def test_hello_with_the_header(box: Box) -> None:
    async with connect(ws_url(box), additional_headers=box.headers()) as conn:
        hello = await receive_json(conn)
        assert hello["type"] == "hello"
        assert hello["info"]["id"] == "lightbox-test"
        assert hello["state"]["version"] == 0
        await conn.send(json.dumps({"type": "ping"}))
        assert await receive_json(conn) == {"type": "pong"}


async def test_hello_after_an_auth_message(box: Box) -> None:
    async with connect(ws_url(box)) as conn:
        await conn.send(json.dumps({"type": "auth", "token": box.token}))
        hello = await receive_json(conn)
        assert hello["type"] == "hello"
        assert hello["state"]["scene"]["type"] == "effect"


@pytest.mark.parametrize(
    "first",
    [
        {"type": "auth", "token": "lbx_wrong"},
        {"type": "command", "command": {"type": "set", "power": False}},
        "not json",
    ],
)
async def test_bad_auth_closes_with_4401(box: Box, first: object) -> None:
    async with connect(ws_url(box)) as conn:
        await conn.send(first if isinstance(first, str) else json.dumps(first))
        error = await receive_json(conn)
        assert error["type"] == "error"
        assert error["error"]["code"] == "unauthorized"
        with pytest.raises(ConnectionClosed) as info:
            await conn.recv()
        assert info.value.rcvd is not None and info.value.rcvd.code == 4401
    assert box.service.state.power is True


async def test_bad_header_token_closes_with_4401(box: Box) -> None:
    headers = {"Authorization": "Bearer lbx_wrong"}
    async with connect(ws_url(box), additional_headers=headers) as conn:
        assert (await receive_json(conn))["error"]["code"] == "unauthorized"
        with pytest.raises(ConnectionClosed) as info:
            await conn.recv()
        assert info.value.rcvd is not None and info.value.rcvd.code == 4401


async def test_no_auth_message_in_time_closes_with_4401(
    box: Box, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ws_module, "AUTH_TIMEOUT_S", 0.2)
    async with connect(ws_url(box)) as conn:
        started = time.monotonic()
        error = await receive_json(conn)
        assert error["error"]["code"] == "unauthorized"
        assert "within" in error["error"]["message"]
        with pytest.raises(ConnectionClosed) as info:
            await conn.recv()
        assert info.value.rcvd is not None and info.value.rcvd.code == 4401
        assert time.monotonic() - started < 2


async def test_state_is_pushed_after_a_rest_command(box: Box, client: httpx.AsyncClient) -> None:
    conn = await open_ws(box)
    other = await open_ws(box)
    try:
        response = await client.patch("/api/v1/state", json={"brightness": 33})
        assert response.json()["ok"] is True
        for c in (conn, other):
            message = await receive_until(c, "state")
            assert message["state"]["brightness"] == 33
            assert message["state"]["version"] == 1

        await client.post(
            "/api/v1/presets",
            json={"id": "blue", "name": "Blue", "scene": {"type": "solid", "color": "#0000ff"}},
        )
        assert await receive_until(conn, "changed") == {
            "type": "changed",
            "topic": "presets",
            "id": "blue",
        }
        await client.patch("/api/v1/settings", json={"name": "Den"})
        assert (await receive_until(conn, "changed"))["topic"] == "settings"
    finally:
        await conn.close()
        await other.close()


async def test_commands_over_the_socket(box: Box) -> None:
    conn = await open_ws(box)
    try:
        await conn.send(
            json.dumps(
                {"type": "command", "command": {"type": "set", "power": False, "id": "ws-1"}}
            )
        )
        result = await receive_until(conn, "result")
        assert result["result"] == {"id": "ws-1", "ok": True, "error": None, "version": 1}
        assert (await receive_until(conn, "state"))["state"]["power"] is False
        assert box.service.state.power is False

        # invalid commands get a failed result; the socket stays open
        await conn.send(
            json.dumps(
                {"type": "command", "command": {"type": "set", "brightness": 300, "id": "ws-2"}}
            )
        )
        result = (await receive_until(conn, "result"))["result"]
        assert (result["ok"], result["id"]) == (False, "ws-2")
        assert (result["error"]["code"], result["error"]["field"]) == (
            "invalid_command",
            "brightness",
        )
        await conn.send(json.dumps({"type": "command", "command": {"type": "explode"}}))
        result = (await receive_until(conn, "result"))["result"]
        assert result["error"]["code"] == "unknown_command"
        await conn.send(
            json.dumps({"type": "command", "command": {"type": "preset.apply", "preset": "ghost"}})
        )
        result = (await receive_until(conn, "result"))["result"]
        assert (result["error"]["code"], result["error"]["field"]) == ("not_found", "preset")
        await conn.send(json.dumps({"type": "command"}))
        assert (await receive_until(conn, "result"))["result"]["error"]["code"] == (
            "invalid_command"
        )
    finally:
        await conn.close()


async def test_bad_messages_get_errors_and_the_socket_stays_open(box: Box) -> None:
    conn = await open_ws(box)
    try:
        for message, code in (
            ("{nope", "invalid_json"),
            (b"\x00\x01", "invalid_json"),
            ("[1, 2]", "invalid_command"),
            ('{"type": "dance"}', "unknown_command"),
            ('{"type": "preview", "enabled": "maybe"}', "invalid_command"),
            ('{"type": "preview", "enabled": true, "fps": 500}', "invalid_command"),
            ('{"type": "x", "pad": "' + "y" * 300_000 + '"}', "payload_too_large"),
        ):
            await conn.send(message)
            error = await receive_json(conn)
            assert error["type"] == "error", message
            assert error["error"]["code"] == code, message
        await conn.send(json.dumps({"type": "ping"}))
        assert await receive_json(conn) == {"type": "pong"}
    finally:
        await conn.close()


def decode_preview(message: bytes) -> np.ndarray:
    assert message[:2] == b"LB"
    width, height = struct.unpack(">HH", message[2:6])
    assert len(message) == 6 + width * height * 3
    return np.frombuffer(message[6:], dtype=np.uint8).reshape(height, width, 3)


async def next_frame(conn: ClientConnection) -> np.ndarray:
    async with asyncio.timeout(5):
        while True:
            message = await conn.recv()
            if isinstance(message, bytes):
                return decode_preview(message)


async def test_preview_frames(box: Box, client: httpx.AsyncClient) -> None:
    await client.patch(
        "/api/v1/state", json={"scene": {"type": "solid", "color": "#204080"}, "transition": CUT}
    )
    conn = await open_ws(box)
    try:
        await conn.send(json.dumps({"type": "preview", "enabled": True, "fps": 10}))
        frame = await next_frame(conn)
        assert frame.shape == (HEIGHT, WIDTH, 3)
        assert (frame == [0x20, 0x40, 0x80]).all()

        # at most fps frames a second (the render loop runs at 30)
        started = time.monotonic()
        for _ in range(5):
            await next_frame(conn)
        assert time.monotonic() - started >= 0.35

        # frames follow the scene
        await client.patch(
            "/api/v1/state",
            json={"scene": {"type": "solid", "color": "#ff0000"}, "transition": CUT},
        )
        async with asyncio.timeout(5):
            while not ((frame := await next_frame(conn)) == [255, 0, 0]).all():
                pass

        await conn.send(json.dumps({"type": "preview", "enabled": False}))
        await conn.send(json.dumps({"type": "ping"}))
        # after the pong, no more frames
        while await conn.recv() != '{"type":"pong"}':
            pass
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.4):
                await conn.recv()
    finally:
        await conn.close()


async def test_preview_survives_a_new_render_loop(box: Box, client: httpx.AsyncClient) -> None:
    conn = await open_ws(box)
    try:
        await conn.send(json.dumps({"type": "preview", "enabled": True, "fps": 30}))
        await next_frame(conn)
        response = await client.patch("/api/v1/settings", json={"output": {"fps": 25}})
        assert response.status_code == 200  # a new render loop
        await client.patch(
            "/api/v1/state",
            json={"scene": {"type": "solid", "color": "#00ff00"}, "transition": CUT},
        )
        async with asyncio.timeout(8):
            while not ((await next_frame(conn)) == [0, 255, 0]).all():
                pass
    finally:
        await conn.close()


async def test_many_clients_and_one_that_vanishes(box: Box, client: httpx.AsyncClient) -> None:
    clients = [await open_ws(box) for _ in range(8)]
    for c in clients[:4]:
        await c.send(json.dumps({"type": "preview", "enabled": True, "fps": 30}))
    # one client disappears without a close handshake, another never reads
    clients[0].transport.abort()
    await asyncio.sleep(0.2)
    response = await client.patch("/api/v1/state", json={"brightness": 7})
    assert response.json()["ok"] is True
    for c in clients[2:]:
        assert (await receive_until(c, "state"))["state"]["brightness"] == 7
    for c in clients[1:]:
        await c.close()
    for _ in range(100):  # every session ends (and unsubscribes) soon after its client
        if not box.service.events.subscribers:
            break
        await asyncio.sleep(0.05)
    assert box.service.events.subscribers == 0
    assert (await client.get("/api/v1/state")).status_code == 200


async def expect_closed_unauthorized(conn: ClientConnection) -> None:
    """Messages may still come first; then an unauthorized error and the close with 4401."""
    async with asyncio.timeout(5):
        while True:
            try:
                message = await conn.recv()
            except ConnectionClosed as closed:
                assert closed.rcvd is not None and closed.rcvd.code == 4401
                return
            if isinstance(message, str) and json.loads(message)["type"] == "error":
                assert json.loads(message)["error"]["code"] == "unauthorized"


async def test_revoking_the_token_closes_its_sockets(box: Box, client: httpx.AsyncClient) -> None:
    token_id, token = box.new_token("phone")
    async with (
        connect(ws_url(box), additional_headers=box.headers(token)) as revoked,
        connect(ws_url(box), additional_headers=box.headers()) as kept,
    ):
        assert (await receive_json(revoked))["type"] == "hello"
        assert (await receive_json(kept))["type"] == "hello"
        assert (await client.delete(f"/api/v1/tokens/{token_id}")).status_code == 204
        await expect_closed_unauthorized(revoked)
        # the other socket is told about the change and stays open
        await receive_until(kept, "changed", topic="tokens", id=token_id)
        await kept.send(json.dumps({"type": "ping"}))
        assert await receive_until(kept, "pong") == {"type": "pong"}


async def test_a_token_revoked_outside_the_api_closes_its_socket_at_the_next_check(
    box: Box, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``lightbox edge token revoke`` changes the store without an event: the socket finds
    out at its next periodic check."""
    monkeypatch.setattr(ws_module, "TOKEN_RECHECK_S", 0.2)
    token_id, token = box.new_token("phone")
    async with connect(ws_url(box), additional_headers=box.headers(token)) as conn:
        assert (await receive_json(conn))["type"] == "hello"
        await asyncio.sleep(0.5)  # a few checks pass while the token is valid
        await conn.send(json.dumps({"type": "ping"}))
        assert await receive_until(conn, "pong") == {"type": "pong"}
        with box.service.store.transaction() as tx:
            assert tx.revoke_token(token_id)
        await expect_closed_unauthorized(conn)
