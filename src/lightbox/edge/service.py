"""The LightBox service: the one place where commands are applied.

Every transport (REST, WebSocket, MQTT, BLE, the cloud relay, schedules, playlists) hands
a parsed :data:`~lightbox.protocol.Command` to :meth:`LightBoxService.execute`. The rules
live here and nowhere else:

1. A command with an ``id`` that was already applied is not applied again; its first result
   is returned again.
2. Cross-object rules are checked (a preset must exist to be applied, a playlist's presets
   must exist, media must be in the library, a sun schedule needs a location). A failed
   check changes nothing.
3. The new scene is built before anything changes; if that fails (say, a corrupt media
   file), nothing changes. Then it goes to the render loop, which only swaps it in.
4. The new state, library changes and the result are committed to SQLite (many commands
   to a transaction) *before* the result is returned: an acknowledged change survives
   ``kill -9``.
5. Once stored and shown, listeners (WebSocket clients, MQTT retained state) hear about it,
   in the order the changes were made.

Commands are planned and handed over one at a time (a fair lock keeps arrival order), but
waiting for the disk and for the frame happens outside the lock: under load, the changes
that arrive within one frame are written in one transaction and shown in one frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import secrets
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime

from lightbox import __version__
from lightbox.drivers import create_driver
from lightbox.drivers.base import Driver, DriverError
from lightbox.edge import playlist as playlists
from lightbox.edge.events import Event, EventBus
from lightbox.edge.media import MediaLibrary
from lightbox.edge.schedule import check_schedule
from lightbox.edge.store import Store, Tx
from lightbox.edge.timers import TimerRunner
from lightbox.engine.loop import RenderLoop
from lightbox.protocol import (
    Command,
    CommandResult,
    Conflict,
    DeviceInfo,
    ErrorInfo,
    IdentifyCommand,
    InvalidCommand,
    LightBoxError,
    NotFound,
    Playlist,
    PlaylistDeleteCommand,
    PlaylistSaveCommand,
    PlaylistStartCommand,
    PlaylistStepCommand,
    PlaylistStopCommand,
    Preset,
    PresetApplyCommand,
    PresetDeleteCommand,
    PresetSaveCommand,
    Scene,
    Schedule,
    ScheduleDeleteCommand,
    ScheduleSaveCommand,
    ScheduleStatus,
    SetCommand,
    Settings,
    SettingsCommand,
    State,
    Stats,
    Transition,
    command_id_of,
    parse_command,
)
from lightbox.protocol.scenes import scene_media
from lightbox.render.output import OutputStage
from lightbox.render.scene import Prepared, SceneContext, prepare

log = logging.getLogger(__name__)

COMMIT_DELAY_S = 0.004
"""A transaction that starts within this long of the last one's end waits out the rest,
gathering the changes that arrive meanwhile (at a few hundred commands a second, several
per fsync instead of one). A change after a quiet spell is written at once."""
COMMIT_BATCH = 256
"""...unless this many changes already wait."""
SHOW_TIMEOUT_S = 10.0
"""How long a change may take to reach the driver before the render loop counts as stuck."""

StoreOp = Callable[[Tx], object]
CUT = Transition(kind="cut", duration_ms=0)


@dataclass(slots=True)
class _Plan:
    """What a command will do, worked out before anything changes."""

    state: State
    ops: list[StoreOp]
    events: list[Event]
    scene_changed: bool = False
    transition: Transition | None = None
    settings: Settings | None = None
    identify_s: float | None = None
    cursor: playlists.PlaylistCursor | None = None
    cursor_changed: bool = False
    prepared: Prepared | None = None  # the new scene's renderer, built before the change


class LightBoxService:
    """Owns the state, the store, the media library and the render loop."""

    def __init__(
        self,
        *,
        store: Store,
        media: MediaLibrary,
        device_id: str,
        settings: Settings,
        state: State,
        driver_factory: Callable[[Settings], Driver] | None = None,
        wall_clock: Callable[[], float] = time.time,
        seed: int | None = None,
    ) -> None:
        self.store = store
        self.media = media
        self.device_id = device_id
        self.events = EventBus()
        self._settings = settings
        self._state = state
        self._driver_factory = driver_factory or (lambda s: create_driver(s.driver, s.matrix))
        self._wall = wall_clock
        self._seed = secrets.randbits(31) if seed is None else seed
        self._lock = asyncio.Lock()
        self._committer = _Committer(store)
        self._in_order = _InOrder()  # announcements, in the order changes were made
        self._frames = _FrameWaiters()
        self._inflight: dict[str, asyncio.Future[CommandResult]] = {}
        # ids with a stored result: a new id (nearly every command) needs no store read
        self._known_ids: set[str] = set()
        self._started = time.monotonic()
        self._cursor: playlists.PlaylistCursor | None = None
        self._playlist: Playlist | None = None
        self._loop: RenderLoop | None = None
        self._timers: TimerRunner | None = None
        self._timer_task: asyncio.Task[None] | None = None
        self.mqtt_connected: Callable[[], bool] = lambda: False
        self.paired: Callable[[], bool] = lambda: bool(self.store.list_tokens())
        self.commands_handled = 0
        self.command_errors = 0

    # -- life cycle -------------------------------------------------------------------
    async def start(self) -> None:
        """Start rendering the stored scene, resume a playlist, start the timers."""
        self._committer.start()
        self._known_ids = await asyncio.to_thread(self.store.result_ids)
        loop = await asyncio.to_thread(self._make_loop, self._settings, self._state.scene)
        self._loop = loop
        loop.start()
        await self._resume_playlist()
        self._timers = TimerRunner(
            now=lambda: datetime.fromtimestamp(self._wall(), UTC),
            get_schedules=self.store.list_schedules,
            get_context=lambda: (self._settings.timezone, self._settings.location),
            fire=self._fire_schedule,
            get_playlist_deadline=self._playlist_deadline,
            on_playlist_due=self._playlist_due,
        )
        self._timer_task = asyncio.create_task(self._timers.run(), name="timers")
        log.info("LightBox %s started", self.device_id)

    async def stop(self) -> None:
        if self._timer_task is not None:
            self._timer_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer_task
            self._timer_task = None
        await self._committer.stop()
        if self._loop is not None:
            await asyncio.to_thread(self._loop.stop)
            self._loop = None

    def _make_loop(self, settings: Settings, scene: Scene) -> RenderLoop:
        driver = self._driver_factory(settings)
        output = OutputStage(settings.matrix, settings.output)
        ctx = self._context(settings)
        try:
            loop = RenderLoop(
                ctx,
                scene,
                output,
                driver,
                fps=settings.output.fps,
                brightness=self._state.brightness,
                power=self._state.power,
                wall_clock=self._wall,
            )
        except Exception as err:  # the stored scene cannot be shown (media gone...)
            log.warning("stored scene cannot be shown (%s); showing the default", err)
            self._state = self._state.model_copy(update={"scene": State().scene})
            loop = RenderLoop(
                ctx,
                self._state.scene,
                output,
                driver,
                fps=settings.output.fps,
                brightness=self._state.brightness,
                power=self._state.power,
                wall_clock=self._wall,
            )
        return loop

    def _context(self, settings: Settings) -> SceneContext:
        return SceneContext(
            settings.matrix.width,
            settings.matrix.height,
            timezone=settings.timezone,
            media=self.media.resolve,
            seed=self._seed,
        )

    # -- queries ----------------------------------------------------------------------
    @property
    def state(self) -> State:
        return self._state

    def current_state(self) -> State:
        return self._state

    @property
    def settings(self) -> Settings:
        return self._settings

    @property
    def render_loop(self) -> RenderLoop:
        if self._loop is None:
            raise RuntimeError("service not started")
        return self._loop

    def stats(self) -> Stats:
        return self.render_loop.stats()

    def info(self) -> DeviceInfo:
        stats = self.stats() if self._loop is not None else None
        return DeviceInfo(
            id=self.device_id,
            name=self._settings.name,
            version=__version__,
            width=self._settings.matrix.width,
            height=self._settings.matrix.height,
            driver=self._settings.driver.name,
            uptime_s=round(time.monotonic() - self._started, 3),
            fps=stats.fps if stats else 0.0,
            target_fps=self._settings.output.fps,
            dropped_frames=stats.dropped if stats else 0,
            estimated_ma=stats.estimated_ma if stats else 0.0,
            power_limited=stats.power_limited if stats else False,
            mqtt_connected=self.mqtt_connected(),
            paired=self.paired(),
        )

    async def show_notice(self, text: str | None, seconds: float = 120.0) -> None:
        """Show a short text (a pairing or claim code) over the scene; ``None`` hides it."""
        if self._loop is not None:
            future = self._loop.update(notice=(text, seconds))
            await asyncio.wait_for(asyncio.wrap_future(future), timeout=10.0)

    # -- commands ---------------------------------------------------------------------
    async def handle_payload(self, payload: bytes, *, origin: str) -> CommandResult:
        """Parse and execute raw bytes (MQTT); never raises for bad input."""
        try:
            command = parse_command(payload)
        except InvalidCommand as err:
            self.command_errors += 1
            log.info("refused %s command: %s", origin, err.message)
            return CommandResult(id=command_id_of(payload), ok=False, error=err.info())
        return await self.execute(command, origin=origin)

    async def execute(self, command: Command, *, origin: str = "api") -> CommandResult:
        """Apply ``command`` once; return its result (errors are results, not exceptions).

        A second command with the id of one still in flight waits for the first's result.
        """
        if command.id is None:
            return await self._execute(command, origin)
        running = self._inflight.get(command.id)
        if running is not None:
            return await asyncio.shield(running)
        future: asyncio.Future[CommandResult] = asyncio.get_running_loop().create_future()
        self._inflight[command.id] = future
        try:
            result = await self._execute(command, origin)
        except BaseException as err:
            if isinstance(err, Exception):
                future.set_exception(err)
                future.exception()  # retrieved: a waiter may not exist
            else:
                future.cancel()
            raise
        finally:
            self._inflight.pop(command.id, None)
        future.set_result(result)
        return result

    async def _execute(self, command: Command, origin: str) -> CommandResult:
        async with self._lock:
            self.commands_handled += 1
            if command.id is not None and command.id in self._known_ids:
                previous = await asyncio.to_thread(self.store.get_result, command.id)
                if previous is not None:
                    return previous
            try:
                if _reads_store(command):
                    plan = await asyncio.to_thread(self._prepared_plan, command, origin)
                else:  # nothing to read: no thread hop on the hot path
                    plan = self._prepared_plan(command, origin)
                frame = await self._show(plan)
            except LightBoxError as err:
                self.command_errors += 1
                result = CommandResult(id=command.id, ok=False, error=err.info())
                # the id was used: answer it the same way again
                stored = self._committer.submit([], None, command.id, result)
                self._remember_id(command.id)
                shown: _Plan | None = None
                announce: State | None = None
                frame = None
            except Exception as err:
                self.command_errors += 1
                log.exception("command %s failed", command.type)
                return CommandResult(
                    id=command.id,
                    ok=False,
                    error=ErrorInfo(code="internal", message=f"internal error: {err}"),
                )
            else:
                state = plan.state
                changed = state != self._state
                if changed:
                    state = state.model_copy(update={"version": self._state.version + 1})
                result = CommandResult(id=command.id, ok=True, version=state.version)
                # the next command plans on top of this one while this one is stored
                self._state = state
                if plan.cursor_changed:
                    self._cursor = plan.cursor
                if plan.settings is not None:
                    self._settings = plan.settings
                shown, announce = plan, (state if changed else None)
                stored = self._committer.submit(plan.ops, announce, command.id, result)
                self._remember_id(command.id)
            ticket = self._in_order.take()
        # Waiting outside the lock lets the next command be planned, stored and handed over
        # meanwhile: changes that arrive within one frame are written and shown together.
        then: Callable[[], None] | None = None
        try:
            try:
                await stored
            except Exception as err:
                log.exception("could not store the change")
                return CommandResult(
                    id=command.id,
                    ok=False,
                    error=ErrorInfo(code="internal", message=f"could not store the change: {err}"),
                )
            await self._shown(frame, command.id)
            if shown is not None:
                then = functools.partial(self._announce, shown, announce)
        finally:
            self._in_order.done(ticket, then)
        return result

    def _remember_id(self, command_id: str | None) -> None:
        if command_id is not None:
            self._known_ids.add(command_id)

    def _publish_state(self, state: State) -> None:
        """Announce a state after every change made before it (see :class:`_InOrder`)."""
        self._in_order.done(
            self._in_order.take(),
            functools.partial(self.events.publish, Event("state", state=state)),
        )

    def _announce(self, plan: _Plan, state: State | None) -> None:
        """Tell listeners about a stored and shown change (called in the order of changes)."""
        if state is not None:
            self.events.publish(Event("state", state=state))
        for event in plan.events:
            self.events.publish(event)
        if self._timers is not None and (
            plan.cursor_changed or any(e.topic == "schedules" for e in plan.events)
        ):
            self._timers.poke()

    def _prepared_plan(self, command: Command, origin: str) -> _Plan:
        """Plan ``command`` and build its new scene (where a bad scene is refused)."""
        return self._prepare(self._plan(command, origin))

    def _prepare(self, plan: _Plan) -> _Plan:
        """Build the plan's new scene for the render loop's context, before anything changes.

        Runs where the plan was made: in a worker thread when the scene needs media (decoding
        can take a while), inline otherwise. A settings change rebuilds its scene in the
        render thread instead (with the new context), and is waited for under the lock.
        """
        loop = self._loop
        if loop is None or not plan.scene_changed or plan.settings is not None:
            return plan
        try:
            plan.prepared = prepare(plan.state.scene, loop.ctx, self._wall())
        except LightBoxError:
            raise
        except (ValueError, KeyError) as err:  # media that cannot be decoded, bad text...
            raise LightBoxError(str(err), code="invalid_command") from err
        return plan

    async def _show(self, plan: _Plan) -> Future[int] | None:
        """Hand the visible part of a plan to the render loop.

        A scene (prepared), brightness or power change cannot fail in the render thread: it
        is queued, and the returned future resolves with the first frame that shows it. A
        new driver, frame rate or output stage can fail there: it is waited for here (None).
        """
        loop = self._loop
        if loop is None:
            return None
        if plan.settings is not None and _needs_new_loop(self._settings, plan.settings):
            try:
                new_loop = await asyncio.to_thread(self._make_loop, plan.settings, plan.state.scene)
            except DriverError as err:  # unavailable here, or does not fit the matrix
                raise InvalidCommand(str(err), field="settings.driver") from err
            await asyncio.to_thread(loop.stop)
            try:
                await asyncio.to_thread(new_loop.start)  # opens the new driver
            except Exception as err:
                # keep showing with the old settings, on a fresh loop
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(new_loop.stop)  # closes what the driver opened
                self._loop = await asyncio.to_thread(
                    self._make_loop, self._settings, self._state.scene
                )
                self._loop.start()
                if isinstance(err, DriverError):
                    raise InvalidCommand(str(err), field="settings.driver") from err
                raise
            self._loop = new_loop
            return None
        cur = self._state
        kwargs: dict[str, object] = {}
        if plan.scene_changed:
            kwargs["scene"] = plan.state.scene
            kwargs["transition"] = plan.transition or plan.state.transition
            kwargs["prepared"] = plan.prepared
        if plan.state.brightness != cur.brightness:
            kwargs["brightness"] = plan.state.brightness
        if plan.state.power != cur.power:
            kwargs["power"] = plan.state.power
        if plan.identify_s is not None:
            kwargs["identify_s"] = plan.identify_s
        if plan.settings is not None:
            kwargs["output"] = OutputStage(plan.settings.matrix, plan.settings.output)
            kwargs["ctx"] = self._context(plan.settings)
            kwargs["scene"] = plan.state.scene
            kwargs["prepared"] = None
        if not kwargs:
            return None
        future = loop.update(**kwargs)  # type: ignore[arg-type]
        if plan.settings is None:
            return future
        try:
            await asyncio.wait_for(asyncio.wrap_future(future), timeout=SHOW_TIMEOUT_S)
        except TimeoutError as err:
            raise LightBoxError("the render loop did not take the change", code="busy") from err
        except LightBoxError:
            raise
        except ValueError as err:  # media that cannot be decoded, bad text...
            raise LightBoxError(str(err), code="invalid_command") from err
        return None

    async def _shown(self, frame: Future[int] | None, command_id: str | None) -> None:
        """Wait until a stored change shows; it stays stored (and shows later) if not."""
        if frame is None:
            return
        try:
            await asyncio.wait_for(self._frames.wait(frame), timeout=SHOW_TIMEOUT_S)
        except Exception as err:  # the loop stopped or hangs: the driver is at fault
            log.warning(
                "command %s is stored but was not shown within %.0f s: %s",
                command_id,
                SHOW_TIMEOUT_S,
                err or type(err).__name__,
            )

    # -- planning (runs in a worker thread: reads the store) ----------------------------
    def _plan(self, command: Command, origin: str) -> _Plan:
        state = self._state
        if isinstance(command, SetCommand):
            return self._plan_set(command, origin)
        if isinstance(command, PresetApplyCommand):
            preset = self._require_preset(command.preset, "preset")
            return self._plan_preset(preset, command.transition, stop_playlist=origin != "playlist")
        if isinstance(command, PresetSaveCommand):
            self._check_media(command.preset.scene, "preset.scene")
            preset = command.preset
            return _Plan(
                state, [lambda tx: tx.put_preset(preset)], [Event("presets", id=preset.id)]
            )
        if isinstance(command, PresetDeleteCommand):
            return self._plan_preset_delete(command.preset)
        if isinstance(command, PlaylistStartCommand):
            pl = self.store.get_playlist(command.playlist)
            if pl is None:
                raise NotFound(f"playlist {command.playlist!r} does not exist", field="playlist")
            return self._plan_playlist_start(pl)
        if isinstance(command, PlaylistStopCommand):
            plan = _Plan(state.model_copy(update={"playlist": None}), [], [])
            plan.cursor, plan.cursor_changed = None, True
            return plan
        if isinstance(command, PlaylistStepCommand):
            return self._plan_playlist_step(command.step)
        if isinstance(command, PlaylistSaveCommand):
            pl = command.playlist
            missing = sorted(
                {e.preset for e in pl.entries} - {p.id for p in self.store.list_presets()}
            )
            if missing:
                raise NotFound(
                    f"playlist {pl.id!r} uses presets that do not exist: {', '.join(missing)}",
                    field="playlist.entries",
                )
            plan = _Plan(state, [lambda tx: tx.put_playlist(pl)], [Event("playlists", id=pl.id)])
            if self._playlist is not None and self._playlist.id == pl.id:
                # the running playlist was edited: restart it from its first entry
                return self._merge(plan, self._plan_playlist_start(pl))
            return plan
        if isinstance(command, PlaylistDeleteCommand):
            return self._plan_playlist_delete(command.playlist)
        if isinstance(command, ScheduleSaveCommand):
            sched = command.schedule
            self._check_schedule(sched, self._settings)
            return _Plan(
                state, [lambda tx: tx.put_schedule(sched)], [Event("schedules", id=sched.id)]
            )
        if isinstance(command, ScheduleDeleteCommand):
            sid = command.schedule
            if self.store.get_schedule(sid) is None:
                raise NotFound(f"schedule {sid!r} does not exist", field="schedule")
            return _Plan(state, [lambda tx: tx.delete_schedule(sid)], [Event("schedules", id=sid)])
        if isinstance(command, SettingsCommand):
            return self._plan_settings(command.settings)
        if isinstance(command, IdentifyCommand):
            plan = _Plan(state, [], [])
            plan.identify_s = command.duration_s
            return plan
        raise InvalidCommand(
            f"command type {command.type!r} is not handled", code="unknown_command"
        )

    def _plan_set(self, command: SetCommand, origin: str) -> _Plan:
        state = self._state
        update: dict[str, object] = {}
        if command.power is not None:
            update["power"] = command.power
        if command.brightness is not None:
            update["brightness"] = command.brightness
        plan = _Plan(state, [], [])
        if command.scene is not None:
            self._check_media(command.scene, "scene")
            update["scene"] = command.scene
            update["preset"] = None
            plan.scene_changed = True
            plan.transition = command.transition
            if origin != "playlist" and state.playlist is not None:
                update["playlist"] = None
                plan.cursor, plan.cursor_changed = None, True
        plan.state = state.model_copy(update=update)
        return plan

    def _plan_preset(
        self, preset: Preset, transition: Transition | None, *, stop_playlist: bool
    ) -> _Plan:
        self._check_media(preset.scene, f"preset {preset.id}")
        update: dict[str, object] = {"scene": preset.scene, "preset": preset.id}
        if preset.brightness is not None:
            update["brightness"] = preset.brightness
        plan = _Plan(self._state, [], [], scene_changed=True)
        plan.transition = transition or preset.transition
        if stop_playlist and self._state.playlist is not None:
            update["playlist"] = None
            plan.cursor, plan.cursor_changed = None, True
        plan.state = self._state.model_copy(update=update)
        return plan

    def _plan_preset_delete(self, preset_id: str) -> _Plan:
        if self.store.get_preset(preset_id) is None:
            raise NotFound(f"preset {preset_id!r} does not exist", field="preset")
        users = [
            f"playlist {p.id!r}"
            for p in self.store.list_playlists()
            if any(e.preset == preset_id for e in p.entries)
        ]
        users += [
            f"schedule {s.id!r}"
            for s in self.store.list_schedules()
            if isinstance(s.action, PresetApplyCommand) and s.action.preset == preset_id
        ]
        if users:
            raise Conflict(
                f"preset {preset_id!r} is used by {', '.join(users)}; remove it there first",
                field="preset",
            )
        update = {"preset": None} if self._state.preset == preset_id else {}
        return _Plan(
            self._state.model_copy(update=update),
            [lambda tx: tx.delete_preset(preset_id)],
            [Event("presets", id=preset_id)],
        )

    def _plan_playlist_delete(self, playlist_id: str) -> _Plan:
        if self.store.get_playlist(playlist_id) is None:
            raise NotFound(f"playlist {playlist_id!r} does not exist", field="playlist")
        users = [
            f"schedule {s.id!r}"
            for s in self.store.list_schedules()
            if isinstance(s.action, PlaylistStartCommand) and s.action.playlist == playlist_id
        ]
        if users:
            raise Conflict(
                f"playlist {playlist_id!r} is used by {', '.join(users)}; remove it there first",
                field="playlist",
            )
        plan = _Plan(
            self._state,
            [lambda tx: tx.delete_playlist(playlist_id)],
            [Event("playlists", id=playlist_id)],
        )
        if self._state.playlist is not None and self._state.playlist.playlist == playlist_id:
            plan.state = self._state.model_copy(update={"playlist": None})
            plan.cursor, plan.cursor_changed = None, True
        return plan

    def _available(self) -> Callable[[str], bool]:
        ids = {p.id for p in self.store.list_presets()}
        return ids.__contains__

    def _plan_playlist_start(self, pl: Playlist) -> _Plan:
        now = datetime.fromtimestamp(self._wall(), UTC)
        cursor = playlists.start(pl, now, seed=secrets.randbits(31), available=self._available())
        if cursor is None:
            raise Conflict(f"playlist {pl.id!r} has no preset that exists", field="playlist")
        return self._plan_cursor(pl, cursor, None)

    def _plan_cursor(
        self, pl: Playlist, cursor: playlists.PlaylistCursor, transition: Transition | None
    ) -> _Plan:
        entry = playlists.entry(pl, cursor)
        preset = self._require_preset(entry.preset, "playlist")
        plan = self._plan_preset(preset, transition or entry.transition, stop_playlist=False)
        plan.state = plan.state.model_copy(update={"playlist": playlists.status(pl, cursor)})
        plan.cursor, plan.cursor_changed = cursor, True
        self._playlist = pl
        return plan

    def _plan_playlist_step(self, step: int, now: datetime | None = None) -> _Plan:
        cursor, pl = self._cursor, self._playlist
        if cursor is None or pl is None:
            raise Conflict("no playlist is running", field="playlist")
        now = now or datetime.fromtimestamp(self._wall(), UTC)
        nxt = playlists.advance(pl, cursor, now, step=step, available=self._available())
        if nxt is None:
            return self._plan_playlist_end(pl)
        return self._plan_cursor(pl, nxt, None)

    def _plan_playlist_end(self, pl: Playlist) -> _Plan:
        update: dict[str, object] = {"playlist": None}
        if pl.end == "off":
            update["power"] = False
        plan = _Plan(self._state.model_copy(update=update), [], [])
        plan.cursor, plan.cursor_changed = None, True
        return plan

    def _plan_settings(self, settings: Settings) -> _Plan:
        for sched in self.store.list_schedules():
            self._check_schedule(sched, settings)
        plan = _Plan(self._state, [lambda tx: tx.save_settings(settings)], [Event("settings")])
        plan.settings = settings
        return plan

    @staticmethod
    def _merge(first: _Plan, second: _Plan) -> _Plan:
        second.ops = first.ops + second.ops
        second.events = first.events + second.events
        return second

    def _require_preset(self, preset_id: str, field: str) -> Preset:
        preset = self.store.get_preset(preset_id)
        if preset is None:
            raise NotFound(f"preset {preset_id!r} does not exist", field=field)
        return preset

    def _check_media(self, scene: Scene, field: str) -> None:
        for media_id in scene_media(scene):
            if not self.media.exists(media_id):
                raise NotFound(
                    f"{field}: media {media_id!r} is not in the library; upload it first",
                    code="media_not_found",
                    field=field,
                )

    def _check_schedule(self, sched: Schedule, settings: Settings) -> None:
        try:
            check_schedule(sched, settings.location)
        except ValueError as err:
            raise InvalidCommand(str(err), field="schedule.trigger") from err
        action = sched.action
        if isinstance(action, PresetApplyCommand) and self.store.get_preset(action.preset) is None:
            raise NotFound(
                f"schedule {sched.id!r}: preset {action.preset!r} does not exist",
                field="schedule.action.preset",
            )
        if (
            isinstance(action, PlaylistStartCommand)
            and self.store.get_playlist(action.playlist) is None
        ):
            raise NotFound(
                f"schedule {sched.id!r}: playlist {action.playlist!r} does not exist",
                field="schedule.action.playlist",
            )
        if isinstance(action, SetCommand) and action.scene is not None:
            self._check_media(action.scene, "schedule.action.scene")

    # -- playlists and schedules ------------------------------------------------------
    async def _resume_playlist(self) -> None:
        status = self._state.playlist
        if status is None:
            return
        pl = await asyncio.to_thread(self.store.get_playlist, status.playlist)
        cursor = playlists.from_status(pl, status) if pl is not None else None
        if pl is None or cursor is None:  # deleted or edited while we were away
            self._state = self._state.model_copy(update={"playlist": None})
            return
        self._playlist = pl
        self._cursor = cursor
        await self._playlist_due(datetime.fromtimestamp(self._wall(), UTC))

    def _playlist_deadline(self) -> datetime | None:
        if self._cursor is None or self._playlist is None:
            return None
        return playlists.next_at(self._playlist, self._cursor)

    async def _playlist_due(self, now: datetime) -> None:
        """Advance a running playlist whose entry has ended (and catch up after a gap)."""
        async with self._lock:
            cursor, pl = self._cursor, self._playlist
            if cursor is None or pl is None:
                return
            deadline = playlists.next_at(pl, cursor)
            if deadline is None or deadline > now:
                return
            nxt = playlists.catch_up(
                pl, cursor, now, available=await asyncio.to_thread(self._available)
            )
            try:
                if nxt is None:
                    plan = self._plan_playlist_end(pl)
                else:
                    plan = await asyncio.to_thread(
                        lambda: self._prepare(self._plan_cursor(pl, nxt, None))
                    )
                await self._shown(await self._show(plan), None)
                state = plan.state.model_copy(update={"version": self._state.version + 1})
                await self._committer.submit(plan.ops, state, None, None)
            except Exception:
                log.exception("playlist %s could not advance; stopping it", pl.id)
                state = self._state.model_copy(
                    update={"playlist": None, "version": self._state.version + 1}
                )
                await self._committer.submit([], state, None, None)
                self._cursor = None
                self._state = state
                self._publish_state(state)
                return
            self._state = state
            self._cursor = plan.cursor
            self._publish_state(state)

    async def _fire_schedule(self, schedule: Schedule, when: datetime) -> None:
        log.info("schedule %s fires (%s)", schedule.id, when.isoformat())
        result = await self.execute(schedule.action, origin="schedule")
        if not result.ok:
            log.warning("schedule %s failed: %s", schedule.id, result.error)
        async with self._lock:
            status = ScheduleStatus(last_fired=schedule.id, last_fired_at=when)
            state = self._state.model_copy(
                update={"schedule": status, "version": self._state.version + 1}
            )
            await self._committer.submit([], state, None, None)
            self._state = state
            self._publish_state(state)


class _FrameWaiters:
    """Awaitable "shown" for the render loop's change futures, one loop wake-up per frame.

    ``asyncio.wrap_future`` would cost every change its own thread-safe call into the
    event loop (a write to its wake-up pipe and a pass of the loop); the changes shown by
    one frame are resolved together instead.
    """

    def __init__(self) -> None:
        self._waiting: deque[tuple[Future[int], asyncio.Future[int]]] = deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._scheduled = False

    def wait(self, frame: Future[int]) -> asyncio.Future[int]:
        loop = self._loop = asyncio.get_running_loop()
        waiter: asyncio.Future[int] = loop.create_future()
        self._waiting.append((frame, waiter))
        frame.add_done_callback(self._done)  # at once if already done
        return waiter

    def _done(self, _frame: Future[int]) -> None:  # the render thread (or this one)
        if self._scheduled or self._loop is None:
            return
        self._scheduled = True
        with contextlib.suppress(RuntimeError):  # the event loop is closed: nobody waits
            self._loop.call_soon_threadsafe(self._settle)

    def _settle(self) -> None:
        self._scheduled = False  # before looking: a frame done from now on schedules again
        while self._waiting and self._waiting[0][0].done():
            frame, waiter = self._waiting.popleft()
            if waiter.done():  # given up on (timed out, cancelled)
                continue
            if frame.cancelled():
                waiter.cancel()
            elif (error := frame.exception()) is not None:
                waiter.set_exception(error)
            else:
                waiter.set_result(frame.result())


class _InOrder:
    """Runs callbacks in the order their tickets were taken, whenever each is done.

    Commands finish out of order (one waits longer for its frame than the next), but
    listeners must see changes in the order they were made: a ticket taken under the
    service lock fixes the place, :meth:`done` runs its callback once every earlier
    ticket is done. Every ticket must be done (``finally``), with ``None`` when there is
    nothing to run.
    """

    def __init__(self) -> None:
        self._taken = 0
        self._next = 0
        self._waiting: dict[int, Callable[[], None] | None] = {}

    def take(self) -> int:
        ticket = self._taken
        self._taken += 1
        return ticket

    def done(self, ticket: int, callback: Callable[[], None] | None = None) -> None:
        self._waiting[ticket] = callback
        while self._next in self._waiting:
            run = self._waiting.pop(self._next)
            self._next += 1
            if run is not None:
                try:
                    run()
                except Exception:  # one listener's failure must not stall the rest
                    log.exception("announcing a change failed")


@dataclass(slots=True)
class _Write:
    ops: list[StoreOp]
    state: State | None
    command_id: str | None
    result: CommandResult | None
    done: asyncio.Future[None]


class _Committer:
    """Stores changes in the order they were made, many to a transaction (group commit).

    Each change is durable (``synchronous=FULL``) before its future resolves, so a result
    is only ever sent for a stored change; while one transaction is being written, the
    changes that arrive queue up and go into the next one together. This is what lets
    the command rate exceed the disk's fsync rate.
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self._queue: list[_Write] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="store-writer")

    async def stop(self) -> None:
        """Write what is queued, then stop."""
        if self._task is None:
            return
        while self._queue:
            self._wake.set()
            await asyncio.sleep(0.01)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    def submit(
        self,
        ops: list[StoreOp],
        state: State | None,
        command_id: str | None,
        result: CommandResult | None,
    ) -> asyncio.Future[None]:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append(_Write(ops, state, command_id, result, done))
        self._wake.set()
        if self._task is None:  # not started (tests, one-off use): write inline
            self.start()
        return done

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        last_commit = -COMMIT_DELAY_S
        while True:
            await self._wake.wait()
            self._wake.clear()
            # Under a stream of changes (the last commit just ended), gather a little more
            # first, as PostgreSQL's commit_delay does: fewer fsyncs for the same changes.
            # What is shown never waits for this; only results and listeners do.
            delay = last_commit + COMMIT_DELAY_S - loop.time()
            if delay > 0 and len(self._queue) < COMMIT_BATCH:
                await asyncio.sleep(delay)
            batch, self._queue = self._queue, []
            if not batch:
                continue
            try:
                await asyncio.to_thread(self._write, batch)
            except Exception:
                # one bad change must not sink the others: store them one by one
                for write in batch:
                    try:
                        await asyncio.to_thread(self._write, [write])
                    except Exception as err:
                        if not write.done.done():
                            write.done.set_exception(err)
                    else:
                        if not write.done.done():
                            write.done.set_result(None)
                continue
            last_commit = loop.time()
            for write in batch:
                if not write.done.done():
                    write.done.set_result(None)

    def _write(self, batch: list[_Write]) -> None:
        with self._store.transaction() as tx:
            last_state: State | None = None
            for write in batch:
                for op in write.ops:
                    op(tx)
                if write.state is not None:
                    last_state = write.state
                if write.command_id is not None and write.result is not None:
                    tx.put_result(write.command_id, write.result)
            if last_state is not None:
                tx.save_state(last_state)


def _reads_store(command: Command) -> bool:
    """Whether planning ``command`` reads the store (then it runs off the event loop)."""
    if isinstance(command, SetCommand):
        return command.scene is not None and bool(scene_media(command.scene))
    return not isinstance(command, IdentifyCommand | PlaylistStopCommand)


def _needs_new_loop(old: Settings, new: Settings) -> bool:
    """A new driver or frame rate needs a new render loop; the rest changes live."""
    return old.driver != new.driver or old.output.fps != new.output.fps
