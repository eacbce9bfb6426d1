"""Update status reports, queued durably and delivered when the cloud is reachable.

``Outbox.report`` is the ``report`` callable the agent gets: it appends one JSON line and
fsyncs, so a report survives a restart, a power cut or a rollback to the other slot (the
file lives in the install root, outside the slots). ``flush(send)`` delivers in order and
keeps what could not be sent; each report has an ``id`` so the receiver can drop repeats.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from lightbox.edge.update import launcher


class UpdateStatus(BaseModel):
    """One state of an update, as reported to the cloud."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    state: str
    version: str | None = Field(default=None, description="The release being installed.")
    from_version: str | None = Field(default=None, description="The committed version.")
    slot: str | None = None
    reason: str | None = Field(default=None, description="Stable code when something failed.")
    message: str = ""
    at: datetime = Field(default_factory=lambda: datetime.now(UTC))


Send = Callable[[dict[str, Any]], Awaitable[None]]


class Outbox:
    def __init__(self, path: Path) -> None:
        self.path = path

    def report(self, status: UpdateStatus) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = (status.model_dump_json() + "\n").encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)

    def pending(self) -> list[dict[str, Any]]:
        try:
            lines = self.path.read_text().splitlines()
        except FileNotFoundError:
            return []
        out = []
        for line in lines:
            try:
                out.append(json.loads(line))
            except ValueError:
                continue  # a line cut by a power loss: the report before it is whole
        return out

    async def flush(self, send: Send) -> int:
        """Deliver queued reports in order; returns how many were sent."""
        queued = self.pending()
        sent = 0
        try:
            for item in queued:
                await send(item)
                sent += 1
        finally:
            if sent:
                rest = self.pending()[sent:]
                tmp = self.path.with_name(f".{self.path.name}.tmp")
                tmp.write_text("".join(json.dumps(r) + "\n" for r in rest))
                os.replace(tmp, self.path)
                launcher._fsync_dir(self.path.parent)
        return sent


__all__ = ["Outbox", "Send", "UpdateStatus"]
