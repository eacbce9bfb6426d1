"""The media library: uploaded images and GIFs, validated, stored atomically, decoded once.

Files live in ``<data_dir>/media/<id>``; their metadata in the store. An upload is checked
(byte, pixel and frame limits, a full decode) before anything is written; a refused file
leaves the library as it was. Decoded media are cached (bounded by decoded bytes) so that
switching back to a scene does not decode again.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import OrderedDict
from datetime import UTC, datetime
from pathlib import Path

from lightbox.edge.store import MediaRecord, Store
from lightbox.edge.store.files import atomic_write, remove_quietly
from lightbox.protocol import Conflict, LightBoxError, NotFound
from lightbox.render.media import DecodedMedia, MediaError, MediaLimits, decode, probe

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")
CONTENT_TYPES = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
    "gif": "image/gif",
}


def media_id_for(filename: str, taken: set[str]) -> str:
    """A safe, unique id from an uploaded file name (``My Cat.gif`` -> ``My-Cat.gif``)."""
    stem = _SAFE.sub("-", Path(filename or "upload").name).strip(".-_") or "upload"
    stem = stem[:100]
    candidate, n = stem, 1
    base, dot, ext = stem.rpartition(".")
    while candidate in taken:
        n += 1
        candidate = f"{base}-{n}.{ext}" if dot else f"{stem}-{n}"
    return candidate


class MediaLibrary:
    def __init__(
        self,
        root: Path,
        store: Store,
        limits: MediaLimits | None = None,
        cache_bytes: int = 256 * 1024 * 1024,
    ) -> None:
        self.root = root
        self.store = store
        self.limits = limits or MediaLimits()
        self._cache: OrderedDict[str, DecodedMedia] = OrderedDict()
        self._cache_bytes = cache_bytes
        self._lock = threading.Lock()
        root.mkdir(parents=True, exist_ok=True)

    def path(self, media_id: str) -> Path:
        return self.root / media_id

    def add(self, filename: str, data: bytes) -> MediaRecord:
        """Validate and store an upload. Blocking: call it off the event loop."""
        try:
            info = probe(data, self.limits)
            decoded = decode(data, self.limits)
        except MediaError as err:
            raise LightBoxError(str(err), code=err.code, field="file") from err
        taken = {r.id for r in self.store.list_media()}
        media_id = media_id_for(filename, taken)
        record = MediaRecord(
            id=media_id,
            filename=(filename or media_id)[:255],
            content_type=CONTENT_TYPES.get(info.format, "application/octet-stream"),
            format=info.format,
            width=info.width,
            height=info.height,
            frames=info.frame_count,
            bytes=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            created_at=datetime.now(UTC),
        )
        atomic_write(self.path(media_id), data)
        try:
            with self.store.transaction() as tx:
                tx.put_media(record)
        except Exception:
            remove_quietly(self.path(media_id))
            raise
        self._remember(media_id, decoded)
        return record

    def delete(self, media_id: str, in_use: list[str]) -> None:
        """Remove media; refused while a preset or the current scene uses it."""
        if self.store.get_media(media_id) is None:
            raise NotFound(f"media {media_id!r} is not in the library", code="media_not_found")
        if in_use:
            raise Conflict(f"media {media_id!r} is used by {', '.join(in_use)}; change those first")
        with self.store.transaction() as tx:
            tx.delete_media(media_id)
        remove_quietly(self.path(media_id))
        with self._lock:
            self._cache.pop(media_id, None)

    def read(self, media_id: str) -> bytes:
        if self.store.get_media(media_id) is None:
            raise NotFound(f"media {media_id!r} is not in the library", code="media_not_found")
        try:
            return self.path(media_id).read_bytes()
        except OSError as err:
            raise NotFound(
                f"media {media_id!r} file is missing: {err}", code="media_not_found"
            ) from err

    def resolve(self, media_id: str) -> DecodedMedia:
        """Decoded frames of ``media_id`` (cached). Blocking."""
        with self._lock:
            cached = self._cache.get(media_id)
            if cached is not None:
                self._cache.move_to_end(media_id)
                return cached
        data = self.read(media_id)
        try:
            decoded = decode(data, self.limits)
        except MediaError as err:
            raise LightBoxError(f"media {media_id!r}: {err}", code=err.code) from err
        self._remember(media_id, decoded)
        return decoded

    def exists(self, media_id: str) -> bool:
        return self.store.get_media(media_id) is not None

    def _remember(self, media_id: str, decoded: DecodedMedia) -> None:
        with self._lock:
            self._cache[media_id] = decoded
            self._cache.move_to_end(media_id)
            while len(self._cache) > 1 and self._cached_bytes() > self._cache_bytes:
                self._cache.popitem(last=False)

    def _cached_bytes(self) -> int:
        return sum(sum(f.nbytes for f in m.frames) for m in self._cache.values())
