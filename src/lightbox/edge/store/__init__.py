"""The LightBox's local store: SQLite (WAL) for state, library, media, tokens and results."""

from lightbox.edge.store.errors import StoreBusy, StoreCorrupt, StoreError
from lightbox.edge.store.files import atomic_write, remove_quietly
from lightbox.edge.store.records import MediaRecord, TokenInfo
from lightbox.edge.store.store import RESULTS_KEPT, Store, Tx

__all__ = [
    "RESULTS_KEPT",
    "MediaRecord",
    "Store",
    "StoreBusy",
    "StoreCorrupt",
    "StoreError",
    "TokenInfo",
    "Tx",
    "atomic_write",
    "remove_quietly",
]
