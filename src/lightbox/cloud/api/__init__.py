"""The cloud's HTTP API (FastAPI); see :func:`create_app`."""

from lightbox.cloud.api.app import API_PREFIX, create_app

__all__ = ["API_PREFIX", "create_app"]
