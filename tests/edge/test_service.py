"""The service: the one place where commands are applied."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from PIL import Image

from lightbox.drivers.null import NullOutput
from lightbox.edge.media import MediaLibrary
from lightbox.edge.service import LightBoxService
from lightbox.edge.store import Store
from lightbox.protocol import CommandResult, Settings, State, parse_command
from lightbox.protocol.settings import NullDriver
from lightbox.render.output import OutputFrame


class Clock:
    def __init__(self) -> None:
        self.now = 1_796_310_245.0  # 2026-12-03 15:04:05 UTC

    def __call__(self) -> float:
        return self.now


async def make_service(data_dir: Path, clock: Clock | None = None) -> LightBoxService:
    store = Store.open(data_dir / "lightbox.db")
    settings = store.load_settings() or Settings(driver=NullDriver())
    service = LightBoxService(
        store=store,
        media=MediaLibrary(data_dir / "media", store),
        device_id="test-box",
        settings=settings,
        state=store.load_state() or State(),
        wall_clock=clock or Clock(),
        seed=1,
    )
    await service.start()
    return service


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[LightBoxService]:
    svc = await make_service(tmp_path)
    yield svc
    await svc.stop()
    svc.store.close()


async def run(service: LightBoxService, command: dict[str, object]) -> CommandResult:
    return await service.execute(parse_command(command))


def png(color: tuple[int, int, int] = (255, 0, 0)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 4), color).save(out, "PNG")
    return out.getvalue()


async def test_set_changes_state_persists_and_counts_versions(service: LightBoxService) -> None:
    before = service.state.version
    result = await run(service, {"type": "set", "brightness": 42, "power": False})
    assert result.ok
    assert result.version == before + 1
    assert (service.state.brightness, service.state.power) == (42, False)
    stored = service.store.load_state()
    assert stored is not None
    assert (stored.brightness, stored.version) == (42, before + 1)


async def test_same_id_is_applied_once(service: LightBoxService) -> None:
    first = await run(service, {"id": "once", "type": "set", "brightness": 10})
    await run(service, {"type": "set", "brightness": 99})
    again = await run(service, {"id": "once", "type": "set", "brightness": 10})
    assert again == first
    assert service.state.brightness == 99, "the repeated id must not be applied again"


async def test_failed_command_with_id_answers_the_same_again(service: LightBoxService) -> None:
    first = await run(service, {"id": "bad", "type": "preset.apply", "preset": "nope"})
    assert not first.ok
    assert first.error is not None
    assert first.error.code == "not_found"
    await run(
        service,
        {
            "type": "preset.save",
            "preset": {
                "id": "nope",
                "name": "Now exists",
                "scene": {"type": "solid", "color": "#fff"},
            },
        },
    )
    assert await run(service, {"id": "bad", "type": "preset.apply", "preset": "nope"}) == first


async def test_invalid_payload_is_answered_with_its_id(service: LightBoxService) -> None:
    result = await service.handle_payload(
        b'{"id": "x1", "type": "set", "brightness": 999}', origin="test"
    )
    assert not result.ok
    assert result.id == "x1"
    assert result.error is not None
    assert result.error.field == "brightness"
    junk = await service.handle_payload(b"\xff\x00", origin="test")
    assert junk.error is not None
    assert junk.error.code == "invalid_json"


async def test_presets_apply_and_delete_rules(service: LightBoxService) -> None:
    scene = {"type": "effect", "effect": "fire"}
    assert (
        await run(
            service,
            {
                "type": "preset.save",
                "preset": {"id": "fire", "name": "Fire", "scene": scene, "brightness": 77},
            },
        )
    ).ok
    assert (await run(service, {"type": "preset.apply", "preset": "fire"})).ok
    assert service.state.preset == "fire"
    assert service.state.brightness == 77
    assert service.state.scene.type == "effect"
    assert (
        await run(
            service,
            {
                "type": "playlist.save",
                "playlist": {"id": "pl", "name": "PL", "entries": [{"preset": "fire"}]},
            },
        )
    ).ok
    refused = await run(service, {"type": "preset.delete", "preset": "fire"})
    assert refused.error is not None
    assert refused.error.code == "conflict"
    assert "playlist 'pl'" in refused.error.message
    assert service.store.get_preset("fire") is not None
    assert (await run(service, {"type": "playlist.delete", "playlist": "pl"})).ok
    assert (await run(service, {"type": "preset.delete", "preset": "fire"})).ok
    assert service.state.preset is None


async def test_playlist_with_missing_presets_is_refused(service: LightBoxService) -> None:
    result = await run(
        service,
        {
            "type": "playlist.save",
            "playlist": {"id": "pl", "name": "PL", "entries": [{"preset": "ghost"}]},
        },
    )
    assert result.error is not None
    assert result.error.code == "not_found"
    assert "ghost" in result.error.message
    assert service.store.get_playlist("pl") is None


async def test_playlist_runs_steps_and_a_manual_scene_stops_it(service: LightBoxService) -> None:
    for name, color in (("red", "#ff0000"), ("blue", "#0000ff")):
        await run(
            service,
            {
                "type": "preset.save",
                "preset": {"id": name, "name": name, "scene": {"type": "solid", "color": color}},
            },
        )
    await run(
        service,
        {
            "type": "playlist.save",
            "playlist": {
                "id": "rb",
                "name": "RB",
                "entries": [{"preset": "red", "duration_s": 5}, {"preset": "blue"}],
            },
        },
    )
    assert (await run(service, {"type": "playlist.start", "playlist": "rb"})).ok
    assert service.state.playlist is not None
    assert service.state.preset == "red"
    assert (await run(service, {"type": "playlist.step", "step": 1})).ok
    assert service.state.preset == "blue"
    assert service.state.playlist is not None
    assert service.state.playlist.index == 1
    await run(service, {"type": "set", "scene": {"type": "solid", "color": "#00ff00"}})
    assert service.state.playlist is None
    stepped = await run(service, {"type": "playlist.step", "step": 1})
    assert stepped.error is not None
    assert stepped.error.code == "conflict"


async def test_media_scene_needs_media_in_the_library(service: LightBoxService) -> None:
    missing = await run(service, {"type": "set", "scene": {"type": "image", "media": "cat.png"}})
    assert missing.error is not None
    assert missing.error.code == "media_not_found"
    record = service.media.add("cat.png", png())
    assert (await run(service, {"type": "set", "scene": {"type": "image", "media": record.id}})).ok
    _, out = service.render_loop.render_once()
    assert out.pixels.max() > 0


async def test_sun_schedule_needs_a_location(service: LightBoxService) -> None:
    schedule = {
        "id": "dusk",
        "name": "Dusk",
        "trigger": {"type": "sun", "event": "sunset"},
        "action": {"type": "set", "power": True},
    }
    refused = await run(service, {"type": "schedule.save", "schedule": schedule})
    assert refused.error is not None
    assert "location" in refused.error.message
    settings = service.settings.model_dump(mode="json")
    settings["location"] = {"latitude": 52.5, "longitude": 13.4}
    assert (await run(service, {"type": "settings.set", "settings": settings})).ok
    assert (await run(service, {"type": "schedule.save", "schedule": schedule})).ok
    settings["location"] = None
    blocked = await run(service, {"type": "settings.set", "settings": settings})
    assert blocked.error is not None
    assert "location" in blocked.error.message


async def test_settings_change_resizes_the_canvas(service: LightBoxService) -> None:
    settings = service.settings.model_dump(mode="json")
    settings["matrix"]["width"], settings["matrix"]["height"] = 16, 8
    assert (await run(service, {"type": "settings.set", "settings": settings})).ok
    canvas, _ = service.render_loop.render_once()
    assert canvas.shape == (8, 16, 3)
    stored = service.store.load_settings()
    assert stored is not None
    assert stored.matrix.width == 16


async def test_state_events_reach_subscribers(service: LightBoxService) -> None:
    seen: list[int] = []
    service.events.on_event(lambda e: seen.append(e.state.brightness) if e.state else None)
    await run(service, {"type": "set", "brightness": 5})
    assert seen == [5]


async def test_restart_shows_the_same_scene(tmp_path: Path) -> None:
    first = await make_service(tmp_path)
    await run(
        first, {"type": "set", "scene": {"type": "solid", "color": "#123456"}, "brightness": 255}
    )
    version = first.state.version
    await first.stop()
    first.store.close()
    second = await make_service(tmp_path)
    try:
        assert second.state.version == version
        canvas, _ = second.render_loop.render_once()
        assert (canvas == [0x12, 0x34, 0x56]).all()
    finally:
        await second.stop()
        second.store.close()


async def test_identify_flashes_the_matrix(service: LightBoxService) -> None:
    assert (await run(service, {"type": "identify", "duration_s": 2})).ok
    canvas, _ = service.render_loop.render_once()
    assert canvas.min() == canvas.max()


async def test_ids_are_remembered_across_restarts(tmp_path: Path) -> None:
    first = await make_service(tmp_path)
    result = await run(first, {"id": "persisted", "type": "set", "brightness": 11})
    await first.stop()
    first.store.close()
    second = await make_service(tmp_path)
    try:
        await run(second, {"type": "set", "brightness": 200})
        again = await run(second, {"id": "persisted", "type": "set", "brightness": 11})
        assert again == result
        assert second.state.brightness == 200
    finally:
        await second.stop()
        second.store.close()


async def test_concurrent_commands_apply_in_order_and_once(service: LightBoxService) -> None:
    commands = [{"id": f"c{i}", "type": "set", "brightness": i} for i in range(1, 41)]
    results = await asyncio.gather(*(run(service, c) for c in commands + commands))
    assert all(r.ok for r in results)
    assert service.state.brightness == 40
    versions = [r.version for r in results[:40]]
    assert versions == sorted(versions)
    assert results[:40] == results[40:]
    stored = service.store.load_state()
    assert stored is not None
    assert stored.brightness == 40


class SlowDriver(NullOutput):
    """Takes 30 ms to show a frame (a long HUB75 chain), noting each frame's top-left pixel."""

    def __init__(self) -> None:
        super().__init__()
        self.pixels: list[tuple[int, ...]] = []

    def show(self, frame: OutputFrame) -> None:
        time.sleep(0.03)
        super().show(frame)
        self.pixels.append(tuple(int(v) for v in frame.pixels.reshape(-1, 3)[0]))


async def test_commands_arriving_together_are_stored_and_shown_together(tmp_path: Path) -> None:
    """A command waits for its frame without holding up the next one.

    20 commands arrive at once at a driver that needs 30 ms per frame: had each waited
    for its own frame before the next was applied, the driver would show 20 frames.
    """
    driver = SlowDriver()
    store = Store.open(tmp_path / "lightbox.db")
    service = LightBoxService(
        store=store,
        media=MediaLibrary(tmp_path / "media", store),
        device_id="test-box",
        settings=Settings(driver=NullDriver()),
        state=State(),
        driver_factory=lambda _settings: driver,
        seed=1,
    )
    await service.start()
    try:
        await run(service, {"type": "set", "brightness": 255, "transition": {"kind": "cut"}})
        seen: list[int] = []
        service.events.on_event(
            lambda e: seen.append(e.state.version) if e.state is not None else None
        )
        before = driver.frames_shown
        colors = [f"#{0x80 + 6 * i:02x}0000" for i in range(20)]
        results = await asyncio.gather(
            *(
                run(
                    service,
                    {"id": f"red-{i}", "type": "set", "scene": {"type": "solid", "color": c}},
                )
                for i, c in enumerate(colors)
            )
        )
        assert all(r.ok for r in results)
        versions = [r.version for r in results]
        assert versions == sorted(versions) and len(set(versions)) == 20
        assert driver.frames_shown - before <= 6, driver.frames_shown - before
        reds = [p[0] for p in driver.pixels[before:]]
        assert reds[-1] == max(reds) > 0, "the last command's colour shows"
        assert seen == versions, "every change is announced, in the order made"
        stored = store.load_state()
        assert stored is not None and stored.version == versions[-1]
    finally:
        await service.stop()
        store.close()


def test_announcements_run_in_ticket_order_whatever_order_they_finish() -> None:
    from lightbox.edge.service import _InOrder

    order = _InOrder()
    ran: list[int] = []
    tickets = [order.take() for _ in range(5)]

    def note(i: int) -> Callable[[], None]:
        return lambda: ran.append(i)

    def boom() -> None:
        raise RuntimeError("a listener failed")

    order.done(tickets[2], note(2))
    order.done(tickets[1], boom)
    assert ran == []  # ticket 0 is not done yet
    order.done(tickets[0], note(0))
    assert ran == [0, 2]  # a failing callback (1) does not stall the rest
    order.done(tickets[4], note(4))
    order.done(tickets[3], None)  # nothing to announce (a refused command)
    assert ran == [0, 2, 4]


async def test_frame_waiters_resolve_in_order_from_another_thread() -> None:
    from concurrent.futures import Future

    from lightbox.edge.service import _FrameWaiters

    frames = _FrameWaiters()
    changes: list[Future[int]] = [Future() for _ in range(4)]
    waiters = [frames.wait(change) for change in changes]
    abandoned = waiters[1]
    abandoned.cancel()  # a command that stopped waiting (timed out)

    def render_thread() -> None:  # one frame shows the first three changes
        changes[0].set_result(7)
        changes[1].set_result(7)
        changes[2].set_exception(RuntimeError("render loop stopped"))

    await asyncio.to_thread(render_thread)
    assert await waiters[0] == 7
    with pytest.raises(RuntimeError, match="stopped"):
        await waiters[2]
    assert not waiters[3].done()
    changes[3].set_result(8)  # from this thread: resolved on the next pass of the loop
    assert await asyncio.wait_for(waiters[3], 5) == 8


async def test_a_stream_of_commands_shares_transactions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Commands 2 ms apart (500/s): several per fsync, not one each; all stored in order."""
    service = await make_service(tmp_path)
    commits = 0
    real = service.store.transaction

    def counting() -> object:
        nonlocal commits
        commits += 1
        return real()

    monkeypatch.setattr(service.store, "transaction", counting)
    try:
        tasks = []
        for i in range(60):
            command = {"id": f"s{i}", "type": "set", "brightness": i + 1}
            tasks.append(asyncio.create_task(run(service, command)))
            await asyncio.sleep(0.002)
        results = await asyncio.gather(*tasks)
        assert all(r.ok for r in results)
        assert commits <= 40, commits
        stored = service.store.load_state()
        assert stored is not None and stored.brightness == 60
    finally:
        monkeypatch.undo()
        await service.stop()
        service.store.close()
