"""The media library over HTTP: uploads (and their limits), fetching, deleting."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import numpy as np
from PIL import Image

from tests.edge.api.conftest import MAX_UPLOAD, Box, assert_problem

CUT = {"kind": "cut", "duration_ms": 0}


def png(width: int = 4, height: int = 2, color: tuple[int, int, int] = (0, 200, 100)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buf, format="PNG")
    return buf.getvalue()


def gif() -> bytes:
    frames = [Image.new("RGB", (4, 4), c) for c in ((255, 0, 0), (0, 0, 255))]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return buf.getvalue()


def png_bomb(width: int = 60_000, height: int = 60_000) -> bytes:
    """A tiny PNG whose header claims a huge image."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 1024))
        + chunk(b"IEND", b"")
    )


async def upload(client: httpx.AsyncClient, name: str, data: bytes, **kw: Any) -> httpx.Response:
    return await client.post("/api/v1/media", files={"file": (name, data)}, **kw)


def stored_files(box: Box) -> list[str]:
    return sorted(p.name for p in (box.data_dir / "media").iterdir())


async def test_upload_list_fetch_delete(box: Box, client: httpx.AsyncClient) -> None:
    data = png()
    response = await upload(client, "My Sign.png", data)
    assert response.status_code == 201, response.text
    record = response.json()
    assert record["id"] == "My-Sign.png"
    assert response.headers["location"] == "/api/v1/media/My-Sign.png"
    assert (record["format"], record["width"], record["height"], record["frames"]) == (
        "png",
        4,
        2,
        1,
    )
    assert record["bytes"] == len(data)
    assert record["content_type"] == "image/png"

    response = await upload(client, "anim.gif", gif())
    assert response.status_code == 201
    assert response.json()["frames"] == 2

    listed = (await client.get("/api/v1/media")).json()
    assert [m["id"] for m in listed] == ["My-Sign.png", "anim.gif"]
    assert (await client.get("/api/v1/media/anim.gif")).json()["content_type"] == "image/gif"

    response = await client.get("/api/v1/media/My-Sign.png/file")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.content == data

    # the same name again gets a new id
    assert (await upload(client, "My Sign.png", png())).json()["id"] == "My-Sign-2.png"

    assert (await client.delete("/api/v1/media/anim.gif")).status_code == 204
    assert_problem(
        await client.get("/api/v1/media/anim.gif"), 404, "media_not_found", field="media_id"
    )
    assert_problem(await client.get("/api/v1/media/anim.gif/file"), 404, "media_not_found")
    assert_problem(await client.delete("/api/v1/media/anim.gif"), 404, "media_not_found")
    assert stored_files(box) == ["My-Sign-2.png", "My-Sign.png"]


async def test_media_in_use_cannot_be_deleted(box: Box, client: httpx.AsyncClient) -> None:
    for name in ("a.png", "b.png", "c.png"):
        assert (await upload(client, name, png())).status_code == 201
    image = {"type": "image", "media": "a.png"}
    await client.post("/api/v1/presets", json={"id": "p", "name": "P", "scene": image})
    body = assert_problem(await client.delete("/api/v1/media/a.png"), 409, "conflict")
    assert "preset 'p'" in str(body["detail"])

    layers = {"type": "layers", "layers": [{"scene": {"type": "image", "media": "b.png"}}]}
    response = await client.patch("/api/v1/state", json={"scene": layers, "transition": CUT})
    assert response.json()["ok"] is True, response.text
    body = assert_problem(await client.delete("/api/v1/media/b.png"), 409, "conflict")
    assert "the current scene" in str(body["detail"])

    schedule = {
        "id": "s",
        "name": "S",
        "trigger": {"type": "time", "at": "08:00"},
        "action": {"type": "set", "scene": {"type": "image", "media": "c.png"}},
    }
    assert (await client.post("/api/v1/schedules", json=schedule)).status_code == 201
    body = assert_problem(await client.delete("/api/v1/media/c.png"), 409, "conflict")
    assert "schedule 's'" in str(body["detail"])
    assert stored_files(box) == ["a.png", "b.png", "c.png"]


async def test_uploads_over_the_limit_are_refused_early(
    box: Box, client: httpx.AsyncClient
) -> None:
    # announced too big (Content-Length): refused before the body is read
    big = b"\x89PNG" + b"\x00" * (MAX_UPLOAD * 3)
    response = await upload(client, "big.png", big)
    body = assert_problem(response, 413, "media_too_large")
    assert "Content-Length" in str(body["detail"])

    # just over the file limit (the multipart body itself fits): the file is refused
    response = await upload(client, "big.png", b"\x89PNG" + b"\x00" * MAX_UPLOAD)
    assert_problem(response, 413, "media_too_large", field="file")

    # no Content-Length at all (chunked): counted while it streams in
    boundary = "lightbox-test-boundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="stream.png"\r\nContent-Type: image/png\r\n\r\n'
    ).encode()

    async def stream() -> AsyncIterator[bytes]:
        yield head
        for _ in range(200):  # 3 MB, far over the limit
            yield b"\x00" * 16_384

    response = await client.post(
        "/api/v1/media",
        content=stream(),
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
    )
    assert "content-length" not in response.request.headers
    assert_problem(response, 413, "media_too_large")
    assert (await client.get("/api/v1/media")).json() == []
    assert stored_files(box) == []
    assert box.service.store.list_media() == []


async def test_bad_files_are_refused_and_nothing_is_stored(
    box: Box, client: httpx.AsyncClient
) -> None:
    assert_problem(
        await upload(client, "bomb.png", png_bomb()), 422, "media_too_many_pixels", field="file"
    )
    assert_problem(
        await upload(client, "junk.png", b"this is not an image" * 10),
        415,
        "media_unsupported_format",
        field="file",
    )
    truncated = png(64, 64, (1, 2, 3))
    truncated = truncated[: len(truncated) // 2]
    response = await upload(client, "half.png", np.random.default_rng(1).bytes(10) + truncated)
    assert response.status_code in (415, 422)
    response = await upload(client, "half.png", truncated)
    assert_problem(response, 422, "media_corrupt", field="file")
    response = await client.post("/api/v1/media", files={"other": ("x.png", png())})
    assert_problem(response, 422, "invalid_command", field="file")
    response = await client.post("/api/v1/media", json={"file": "x"})
    assert_problem(response, 422, "invalid_command", field="file")
    assert (await client.get("/api/v1/media")).json() == []
    assert stored_files(box) == []
