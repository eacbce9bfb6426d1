"""Running the services' event loop: uvloop where it is installed, asyncio's otherwise.

Every long-running process (``lightbox edge run``, ``lightbox cloud serve``, the cloud's
sync worker processes, ``lightbox demo``) runs its main coroutine through :func:`run`.
uvloop (libuv, in C) does the event loop's own work (waking on a socket, running
callbacks, timers) in a fraction of the time of asyncio's pure-Python loop: per MQTT
command that work is a good part of a LightBox's CPU time, and on a small board the CPU
decides how many commands a second it can take without its latency growing.

``LIGHTBOX_EVENT_LOOP`` chooses: ``auto`` (the default: uvloop if importable), ``uvloop``
(fail if it is missing) or ``asyncio``. uvloop comes with ``uvicorn[standard]`` in the
``edge`` and ``cloud`` extras; it does not exist for Windows, where ``auto`` falls back.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
from collections.abc import Callable, Coroutine
from typing import Any, Literal, TypeVar

__all__ = ["ENV", "LoopKind", "describe", "freeze_heap", "loop_factory", "run"]

T = TypeVar("T")
logger = logging.getLogger(__name__)
LoopKind = Literal["auto", "uvloop", "asyncio"]
ENV = "LIGHTBOX_EVENT_LOOP"


def _kind(kind: str | None) -> LoopKind:
    value = (kind if kind is not None else os.environ.get(ENV, "auto")).strip().lower()
    if value not in ("auto", "uvloop", "asyncio"):
        raise ValueError(f"{ENV} must be auto, uvloop or asyncio, not {value!r}")
    return value  # type: ignore[return-value]


def loop_factory(kind: str | None = None) -> Callable[[], asyncio.AbstractEventLoop]:
    """The factory of the event loop to run on (``kind`` defaults to ``$LIGHTBOX_EVENT_LOOP``).

    Raises :class:`ValueError` for an unknown kind and :class:`RuntimeError` when uvloop
    was asked for by name and is not installed.
    """
    chosen = _kind(kind)
    if chosen == "asyncio":
        return asyncio.new_event_loop
    try:
        import uvloop
    except ImportError as err:
        if chosen == "uvloop":
            raise RuntimeError(f"{ENV}=uvloop, but uvloop is not installed") from err
        return asyncio.new_event_loop
    return uvloop.new_event_loop


def run(main: Coroutine[Any, Any, T], *, kind: str | None = None) -> T:
    """Run ``main`` to completion on a new event loop (see the module docstring)."""
    try:
        factory = loop_factory(kind)
    except BaseException:
        main.close()  # never awaited: do not warn about it
        raise
    logger.info("event loop: %s", _name(factory))
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)


def describe(kind: str | None = None) -> str:
    """Which event loop :func:`run` would use: ``uvloop <version>`` or ``asyncio``."""
    name = _name(loop_factory(kind))
    if name == "asyncio":
        return name
    from importlib.metadata import version

    return f"uvloop {version('uvloop')}"


def _name(factory: Callable[[], asyncio.AbstractEventLoop]) -> str:
    return "asyncio" if factory is asyncio.new_event_loop else "uvloop"


def freeze_heap() -> None:
    """Call once a service has started: what it built lives as long as the process.

    ``gc.freeze()`` moves every object alive now out of the cyclic garbage collector's
    generations, so its full collections no longer walk them. In a sync worker holding
    the libraries of the cloud stack those collections paused the event loop for 50 to
    110 ms, seven times in a 30-second run at 2,000 updates/s: the whole p99.
    """
    gc.collect()
    gc.freeze()
