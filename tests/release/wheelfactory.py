"""Tiny, valid wheels made in the test: a fake ``lightbox`` with a console script.

The fake's ``lightbox edge run --http-port P`` serves ``GET /api/v1/info`` on 127.0.0.1:P
with its version, like the real LightBox; ``mode`` makes a broken release: ``crash`` exits
1 at start, ``no_broker`` answers but reports ``mqtt_connected: false``.
"""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path

APP = """\
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

VERSION = {version!r}
MODE = {mode!r}


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path != "/api/v1/info":
            self.send_error(404)
            return
        body = json.dumps(
            {{
                "version": VERSION,
                "mqtt_connected": MODE != "no_broker",
                "fps": 30.0,
                "slot": os.environ.get("LIGHTBOX_SLOT"),
            }}
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def main():
    args = sys.argv[1:]
    if MODE == "crash":
        sys.stderr.write("lightbox " + VERSION + ": crashed at start\\n")
        sys.exit(1)
    port = int(args[args.index("--http-port") + 1]) if "--http-port" in args else 8080
    HTTPServer.allow_reuse_address = True
    HTTPServer(("127.0.0.1", port), Handler).serve_forever()
"""


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def make_wheel(
    dest: Path,
    name: str = "lightbox",
    version: str = "1.0.0",
    *,
    mode: str = "ok",
    requires: tuple[str, ...] = (),
    padding: int = 0,
) -> Path:
    """Write ``<name>-<version>-py3-none-any.whl`` into ``dest`` and return its path."""
    dest.mkdir(parents=True, exist_ok=True)
    dist = name.replace("-", "_")
    module = f"{dist}_fake_app"
    info = f"{dist}-{version}.dist-info"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    metadata += "".join(f"Requires-Dist: {r}\n" for r in requires)
    files: dict[str, bytes] = {
        f"{module}/__init__.py": APP.format(version=version, mode=mode).encode(),
        f"{info}/METADATA": metadata.encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: lightbox-tests\n"
        b"Root-Is-Purelib: true\nTag: py3-none-any\n",
    }
    if name == "lightbox":
        files[f"{info}/entry_points.txt"] = (
            f"[console_scripts]\nlightbox = {module}:main\n".encode()
        )
    if padding:
        # incompressible filler to make an artifact of a chosen size
        files[f"{module}/filler.bin"] = hashlib.shake_256(version.encode()).digest(padding)
    record = [_record_line(n, d) for n, d in files.items()] + [f"{info}/RECORD,,"]
    files[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    path = dest / f"{dist}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for member, data in files.items():
            zf.writestr(member, data)
    return path


def make_release_wheels(
    dest: Path, version: str, *, mode: str = "ok", padding: int = 0
) -> list[Path]:
    """The fake lightbox wheel plus one dependency wheel, as a release needs."""
    dep = make_wheel(dest, "tinydep", "0.1.0")
    app = make_wheel(dest, "lightbox", version, mode=mode, requires=("tinydep",), padding=padding)
    return [app, dep]
