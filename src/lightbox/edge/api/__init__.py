"""The LightBox's local HTTP API and WebSocket (FastAPI); see :func:`create_app`.

Importing a submodule (``problems``, ``limits``) does not import the service: the cloud
reuses those helpers without the edge's dependencies.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lightbox.edge.api.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from lightbox.edge.api.app import create_app

        return create_app
    raise AttributeError(name)
