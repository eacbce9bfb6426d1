"""The schema, as an ordered list of migrations.

Migration ``n`` (1-based) brings ``PRAGMA user_version`` from ``n - 1`` to ``n``. Each runs in
one transaction with the user_version bump, so a crash leaves the schema at a version boundary.
Never edit a released migration: append a new one.

Models are stored as their JSON (``model_dump_json()``) in ``body`` TEXT columns, with the id
and a few query columns alongside. Times are UTC ISO-8601 strings with microseconds, so text
order is time order.
"""

from __future__ import annotations

__all__ = ["MIGRATIONS"]

_V1 = (
    """
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) WITHOUT ROWID
    """,
    """
    CREATE TABLE state (
        id         INTEGER PRIMARY KEY CHECK (id = 1),
        version    INTEGER NOT NULL,
        body       TEXT NOT NULL CHECK (json_valid(body)),
        updated_at TEXT NOT NULL
    )
    """,
    """
    CREATE TABLE settings (
        id         INTEGER PRIMARY KEY CHECK (id = 1),
        body       TEXT NOT NULL CHECK (json_valid(body)),
        updated_at TEXT NOT NULL
    )
    """,
    *(
        stmt
        for table in ("presets", "playlists", "schedules")
        for stmt in (
            f"""
            CREATE TABLE {table} (
                id         TEXT PRIMARY KEY,
                name       TEXT NOT NULL,
                body       TEXT NOT NULL CHECK (json_valid(body)),
                updated_at TEXT NOT NULL
            ) WITHOUT ROWID
            """,
            f"CREATE INDEX {table}_by_name ON {table} (name COLLATE NOCASE, name, id)",
        )
    ),
    """
    CREATE TABLE media (
        id           TEXT PRIMARY KEY,
        filename     TEXT NOT NULL,
        content_type TEXT NOT NULL,
        format       TEXT NOT NULL,
        width        INTEGER NOT NULL,
        height       INTEGER NOT NULL,
        frames       INTEGER NOT NULL,
        bytes        INTEGER NOT NULL,
        sha256       TEXT NOT NULL,
        created_at   TEXT NOT NULL
    ) WITHOUT ROWID
    """,
    "CREATE INDEX media_by_created ON media (created_at, id)",
    # seq is the rowid: insertion order, used to keep only the newest results.
    """
    CREATE TABLE command_results (
        seq        INTEGER PRIMARY KEY,
        command_id TEXT NOT NULL UNIQUE,
        ok         INTEGER NOT NULL,
        body       TEXT NOT NULL CHECK (json_valid(body)),
        created_at TEXT NOT NULL
    )
    """,
    # Only the SHA-256 of a token is stored, never the token.
    """
    CREATE TABLE tokens (
        id           TEXT PRIMARY KEY,
        name         TEXT NOT NULL,
        sha256       BLOB NOT NULL UNIQUE,
        created_at   TEXT NOT NULL,
        last_used_at TEXT
    ) WITHOUT ROWID
    """,
)

# The sync agent's document (lightbox.edge.sync): one row per register. ``value`` is the
# register's JSON (NULL with deleted = 1 for a tombstone), ``ts`` its encoded HLC timestamp
# (fixed-width: text order is time order). The marks and the document's top live in meta.
_V2 = (
    """
    CREATE TABLE sync_registers (
        key     TEXT PRIMARY KEY,
        ts      TEXT NOT NULL,
        deleted INTEGER NOT NULL DEFAULT 0,
        value   TEXT CHECK (value IS NULL OR json_valid(value))
    ) WITHOUT ROWID
    """,
    "CREATE INDEX sync_registers_by_ts ON sync_registers (ts)",
)

MIGRATIONS: tuple[tuple[str, ...], ...] = (_V1, _V2)
