"""Reports are durable and delivered late, in order, when the cloud is reachable."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lightbox.edge.update.outbox import Outbox, UpdateStatus


async def test_reports_are_kept_until_delivered(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.jsonl")
    for state in ("checking", "downloading", "failed"):
        outbox.report(UpdateStatus(state=state, version="1.1.0"))
    delivered: list[dict[str, Any]] = []

    async def offline(item: dict[str, Any]) -> None:
        if len(delivered) == 1:
            raise ConnectionError("offline")
        delivered.append(item)

    with pytest.raises(ConnectionError):
        await outbox.flush(offline)
    assert [r["state"] for r in outbox.pending()] == ["downloading", "failed"]

    async def online(item: dict[str, Any]) -> None:
        delivered.append(item)

    assert await outbox.flush(online) == 2
    assert [r["state"] for r in delivered] == ["checking", "downloading", "failed"]
    assert len({r["id"] for r in delivered}) == 3
    assert outbox.pending() == []


def test_a_line_cut_by_power_loss_is_skipped(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.jsonl")
    outbox.report(UpdateStatus(state="checking"))
    with (tmp_path / "outbox.jsonl").open("a") as fh:
        fh.write('{"state": "downl')
    assert [r["state"] for r in outbox.pending()] == ["checking"]
