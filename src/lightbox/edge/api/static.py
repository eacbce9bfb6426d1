"""The web app's files, served by the LightBox itself at ``/`` (no internet needed).

:func:`mount_web_app` adds one route per file of ``lightbox/web/app/`` (plus ``/`` for
``index.html``). Explicit routes, rather than a catch-all mount, mean the app can never
shadow an API route, whatever order the routes are added in, and a path outside the app
directory cannot even be asked for.

Every file is read once, at mount time (the whole app is a few hundred kilobytes), and
served with a strong ``ETag`` from its content. ``Cache-Control: no-cache`` makes browsers
revalidate each file (a cheap ``304`` on the LAN), so an updated LightBox is never stuck
behind a stale copy; the service worker keeps the offline copy. ``sw.js`` in particular
must never be cached for long, or an update of the worker itself would be delayed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

__all__ = ["WEB_APP_DIR", "mount_web_app"]

WEB_APP_DIR = Path(__file__).resolve().parents[2] / "web" / "app"
"""Where the web app's files live in the installed package."""

CONTENT_TYPES: dict[str, str] = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".webmanifest": "application/manifest+json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".txt": "text/plain; charset=utf-8",
}

# The app loads nothing from elsewhere: scripts, styles and images come from this origin,
# the live socket goes back to it, and uploaded images are previewed from blob: URLs.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "connect-src 'self'; manifest-src 'self'; worker-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

_COMMON_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@dataclass(frozen=True, slots=True)
class _Asset:
    body: bytes
    headers: dict[str, str]

    @property
    def etag(self) -> str:
        return self.headers["ETag"]


def _load(path: Path) -> _Asset:
    body = path.read_bytes()
    headers = {
        **_COMMON_HEADERS,
        "Content-Type": CONTENT_TYPES.get(path.suffix, "application/octet-stream"),
        "ETag": '"' + hashlib.sha256(body).hexdigest()[:32] + '"',
    }
    if path.suffix == ".html":
        headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    if path.name == "sw.js":
        # Revalidated on every update check; the worker controls the whole origin.
        headers["Cache-Control"] = "no-cache, max-age=0, must-revalidate"
        headers["Service-Worker-Allowed"] = "/"
    return _Asset(body, headers)


def _endpoint(asset: _Asset) -> Callable[[Request], Awaitable[Response]]:
    async def serve(request: Request) -> Response:
        if_none_match = request.headers.get("if-none-match", "")
        if asset.etag in (tag.strip() for tag in if_none_match.split(",")):
            headers = {k: v for k, v in asset.headers.items() if k != "Content-Type"}
            return Response(status_code=304, headers=headers)
        return Response(asset.body, headers=asset.headers)

    return serve


def mount_web_app(app: FastAPI, directory: Path = WEB_APP_DIR) -> None:
    """Serve the web app in ``directory`` at ``/`` (``index.html`` for ``/``).

    Raises ``FileNotFoundError`` when ``directory`` has no ``index.html``: a LightBox
    without its app is a packaging mistake, better found at start than by a user.
    """
    index = directory / "index.html"
    if not index.is_file():
        raise FileNotFoundError(f"web app not found: {index} is missing")
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        rel = path.relative_to(directory).as_posix()
        if any(part.startswith(".") for part in path.relative_to(directory).parts):
            continue  # editor swap files, .DS_Store...
        asset = _load(path)
        urls = [f"/{rel}"]
        if rel == "index.html":
            urls.insert(0, "/")
        for url in urls:
            app.router.routes.append(
                Route(url, _endpoint(asset), methods=["GET", "HEAD"], include_in_schema=False)
            )
