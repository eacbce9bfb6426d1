"""The LightBox's local HTTP API and WebSocket (FastAPI); see :func:`create_app`."""

from lightbox.edge.api.app import create_app

__all__ = ["create_app"]
