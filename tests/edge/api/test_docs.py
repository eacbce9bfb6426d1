"""docs/api.md names every route the app has (so the guide cannot fall behind)."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

from fastapi.routing import APIRoute, iter_route_contexts

from lightbox.edge.api import create_app
from lightbox.edge.api.problems import STATUS, TITLES
from lightbox.protocol import ErrorCode

GUIDE = Path(__file__).parents[3] / "docs" / "api.md"


def test_every_route_is_in_the_guide() -> None:
    text = GUIDE.read_text()
    app = create_app(service=None)  # type: ignore[arg-type]
    missing = [
        f"{method} {route.path}"
        for route in iter_route_contexts(app.routes)
        if isinstance(route.original_route, APIRoute) and route.methods
        for method in sorted(route.methods)
        if f"`{method} {route.path}`" not in text
    ]
    assert missing == []


def test_every_error_code_has_a_status_a_title_and_a_line_in_the_guide() -> None:
    codes = get_args(ErrorCode)
    assert set(STATUS) == set(codes)
    assert set(TITLES) == set(codes)
    text = GUIDE.read_text()
    assert [code for code in codes if f"`{code}`" not in text] == []
