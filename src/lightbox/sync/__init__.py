"""Pure merge rules of the state sync between a LightBox and the cloud (shared by both).

No I/O and no clock reads: time comes in through the ``now_ms`` callable of :class:`Hlc`.
The transport (MQTT, SQLite outbox, PostgreSQL) is built on this API; see docs/sync.md.

- :mod:`~lightbox.sync.clock`: hybrid logical clock, :class:`Timestamp` and its encoding.
- :mod:`~lightbox.sync.document`: the document of last-writer-wins registers.
- :mod:`~lightbox.sync.delta`: deltas, acks, per-peer marks, tombstone collection, wire.
- :mod:`~lightbox.sync.view`: protocol models ↔ plain view ↔ document changes.

Errors::

    SyncError                   every error raised by lightbox.sync
    ├── ClockDriftError         a remote timestamp is too far ahead of the local clock
    ├── WireFormatError         a delta or ack payload cannot be decoded (also ValueError)
    └── SyncValidationError     a merged document does not validate (also ValueError)
"""

from __future__ import annotations

from lightbox.sync.clock import CLOUD, DEVICE, Hlc, Timestamp, decode, encode, latest
from lightbox.sync.delta import (
    Ack,
    Delta,
    PeerMarks,
    Received,
    acknowledge,
    coalesce,
    collect_garbage,
    decode_ack,
    decode_delta,
    delta_since,
    encode_ack,
    encode_delta,
    outgoing,
    receive,
    restore,
    rewind,
    snapshot,
)
from lightbox.sync.document import (
    COLLECTIONS,
    TOMBSTONE,
    Change,
    Document,
    Register,
    Tombstone,
    entry_key,
    split_entry_key,
    wins,
)
from lightbox.sync.errors import (
    ClockDriftError,
    SyncError,
    SyncValidationError,
    WireFormatError,
)
from lightbox.sync.view import (
    STATE_FIELDS,
    SyncModels,
    SyncView,
    changes,
    document_view,
    empty_view,
    flatten,
    from_models,
    to_models,
    unflatten,
)

__all__ = [
    "CLOUD",
    "COLLECTIONS",
    "DEVICE",
    "STATE_FIELDS",
    "TOMBSTONE",
    "Ack",
    "Change",
    "ClockDriftError",
    "Delta",
    "Document",
    "Hlc",
    "PeerMarks",
    "Received",
    "Register",
    "SyncError",
    "SyncModels",
    "SyncValidationError",
    "SyncView",
    "Timestamp",
    "Tombstone",
    "WireFormatError",
    "acknowledge",
    "changes",
    "coalesce",
    "collect_garbage",
    "decode",
    "decode_ack",
    "decode_delta",
    "delta_since",
    "document_view",
    "empty_view",
    "encode",
    "encode_ack",
    "encode_delta",
    "entry_key",
    "flatten",
    "from_models",
    "latest",
    "outgoing",
    "receive",
    "restore",
    "rewind",
    "snapshot",
    "split_entry_key",
    "to_models",
    "unflatten",
    "wins",
]
