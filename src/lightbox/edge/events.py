"""Change notifications inside the LightBox service (to WebSocket clients, MQTT, sync)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Literal

from lightbox.protocol import State

Topic = Literal["state", "presets", "playlists", "schedules", "settings", "media", "tokens"]


@dataclass(frozen=True, slots=True)
class Event:
    topic: Topic
    state: State | None = None  # set for "state"
    id: str | None = None  # the item that changed, for library topics


class EventBus:
    """Fan-out on the event loop. Slow subscribers never block the publisher.

    Each subscriber has a bounded queue; when it is full, the oldest event is dropped, but
    a state event is never lost behind it: state events coalesce (the newest replaces any
    queued one), so a slow WebSocket client always ends up with the current state.
    """

    def __init__(self, maxsize: int = 64) -> None:
        self._queues: set[asyncio.Queue[Event]] = set()
        self._callbacks: list[Callable[[Event], None]] = []
        self._maxsize = maxsize

    def publish(self, event: Event) -> None:
        for callback in list(self._callbacks):
            callback(event)
        for queue in list(self._queues):
            if event.topic == "state":
                _drop_state(queue)
            while queue.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
            queue.put_nowait(event)

    def on_event(self, callback: Callable[[Event], None]) -> Callable[[], None]:
        """Call ``callback`` synchronously for every event; returns an unsubscribe function."""
        self._callbacks.append(callback)
        return lambda: self._callbacks.remove(callback)

    async def subscribe(self) -> AsyncIterator[Event]:
        queue: asyncio.Queue[Event] = asyncio.Queue(self._maxsize)
        self._queues.add(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            self._queues.discard(queue)

    @property
    def subscribers(self) -> int:
        return len(self._queues)


def _drop_state(queue: asyncio.Queue[Event]) -> None:
    kept: list[Event] = []
    while True:
        try:
            item = queue.get_nowait()
        except asyncio.QueueEmpty:
            break
        if item.topic != "state":
            kept.append(item)
    for item in kept:
        queue.put_nowait(item)
