"""The emulator: snapshots, PNGs and async consumers that always get the latest frame."""

from __future__ import annotations

import asyncio
import io
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lightbox.drivers.emulator import EmulatorOutput
from lightbox.protocol.settings import EmulatorDriver, MatrixSettings
from tests.drivers.helpers import numbered, output_frame

MATRIX = MatrixSettings(width=8, height=4)


def test_snapshot_png_and_count(tmp_path: Path) -> None:
    emulator = EmulatorOutput(EmulatorDriver(), MATRIX)
    assert emulator.snapshot() is None
    assert emulator.sequence == 0
    blank = Image.open(io.BytesIO(emulator.png()))
    assert blank.size == (8, 4)
    assert not np.asarray(blank).any()

    frame = numbered(8, 4)
    emulator.show(output_frame(MATRIX, "canvas", frame))
    snap = emulator.snapshot()
    assert snap is not None
    assert np.array_equal(snap, frame)
    assert not snap.flags.writeable
    assert emulator.frames_shown == 1
    assert emulator.sequence == 1

    image = Image.open(io.BytesIO(emulator.png(scale=3)))
    assert image.size == (24, 12)
    assert np.array_equal(np.asarray(image.convert("RGB"))[::3, ::3], frame)

    emulator.save_png(tmp_path / "shot.png")
    assert np.array_equal(np.asarray(Image.open(tmp_path / "shot.png").convert("RGB")), frame)


def test_the_frame_is_copied() -> None:
    emulator = EmulatorOutput(matrix=MATRIX)
    out = output_frame(MATRIX, "canvas")
    emulator.show(out)
    out.pixels[...] = 0
    assert emulator.snapshot() is not None
    assert emulator.snapshot().any()  # type: ignore[union-attr]


async def test_next_frame_wakes_from_another_thread() -> None:
    emulator = EmulatorOutput(matrix=MATRIX)
    frame = numbered(8, 4)
    waiter = asyncio.create_task(emulator.next_frame(0))
    await asyncio.sleep(0)
    assert not waiter.done()
    thread = threading.Thread(target=emulator.show, args=(output_frame(MATRIX, "canvas", frame),))
    thread.start()
    seq, pixels = await asyncio.wait_for(waiter, 5)
    thread.join()
    assert seq == 1
    assert np.array_equal(pixels, frame)
    # A frame newer than after_seq is returned at once.
    assert (await emulator.next_frame(0))[0] == 1


async def test_slow_consumer_gets_only_the_latest_frame() -> None:
    emulator = EmulatorOutput(matrix=MATRIX)
    frames = [np.full((4, 8, 3), v, np.uint8) for v in (10, 20, 30)]
    for frame in frames:
        emulator.show(output_frame(MATRIX, "canvas", frame))
    seq, pixels = await emulator.next_frame(0)
    assert seq == 3
    assert pixels[0, 0, 0] == 30


async def test_cancelled_waiters_are_forgotten() -> None:
    emulator = EmulatorOutput(matrix=MATRIX)
    for _ in range(5):
        task = asyncio.create_task(emulator.next_frame(0))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert not emulator._waiters


def test_show_after_a_waiting_loop_closed() -> None:
    emulator = EmulatorOutput(matrix=MATRIX)
    loop = asyncio.new_event_loop()
    emulator._waiters[loop] = [loop.create_future()]
    loop.close()
    emulator.show(output_frame(MATRIX, "canvas"))  # must not raise
    assert emulator.frames_shown == 1
    assert not emulator._waiters
