"""The services' event loop: uvloop when installed, asyncio's when asked or missing."""

from __future__ import annotations

import asyncio
import gc
import sys
import warnings

import pytest

from lightbox import aio

uvloop = pytest.importorskip("uvloop", reason="uvloop comes with the edge and cloud extras")


async def _loop_module() -> str:
    return type(asyncio.get_running_loop()).__module__


def test_runs_on_uvloop_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(aio.ENV, raising=False)
    assert aio.run(_loop_module()).startswith("uvloop")
    assert aio.describe() == f"uvloop {uvloop.__version__}"


def test_asyncio_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(aio.ENV, "asyncio")
    assert aio.run(_loop_module()).startswith("asyncio")
    assert aio.describe() == "asyncio"
    # the argument wins over the environment
    assert aio.run(_loop_module(), kind="uvloop").startswith("uvloop")


def test_auto_falls_back_when_uvloop_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import uvloop -> ImportError
    assert aio.run(_loop_module(), kind="auto").startswith("asyncio")
    with pytest.raises(RuntimeError, match="uvloop is not installed"):
        aio.loop_factory("uvloop")


def test_unknown_kind_is_refused_and_the_coroutine_is_not_left_unawaited() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "coroutine ... was never awaited" would fail here
        with pytest.raises(ValueError, match="auto, uvloop or asyncio, not 'trio'"):
            aio.run(_loop_module(), kind="trio")


def test_a_result_and_an_exception_come_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(aio.ENV, raising=False)

    async def boom() -> None:
        await asyncio.sleep(0)
        raise KeyError("x")

    async def answer() -> int:
        await asyncio.to_thread(lambda: None)  # the default executor works too
        return 42

    assert aio.run(answer()) == 42
    with pytest.raises(KeyError):
        aio.run(boom())


def test_freeze_heap_takes_what_exists_out_of_the_collector() -> None:
    kept = [[i] for i in range(1000)]  # alive now: frozen with everything else
    try:
        aio.freeze_heap()
        frozen = gc.get_freeze_count()
        assert frozen >= len(kept)
        assert gc.get_count()[2] == 0  # nothing left waiting for a full collection
    finally:
        gc.unfreeze()  # the rest of the test session collects as usual
