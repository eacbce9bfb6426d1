"""Hypothesis fuzzing of MQTT command payloads against a real LightBox (issue 3).

A real ``LightBoxService`` (null driver, a store in the test's tmp dir) and the real
``MqttLink`` on the real Mosquitto, wired as the runtime wires them, run on an event loop in
a thread of their own. A second client publishes generated payloads on ``cmd`` (QoS 1) and
reads ``cmd/result``, one payload at a time:

- arbitrary bytes, arbitrary text, valid commands cut short;
- arbitrary JSON values (objects get a unique ``id``);
- near-valid commands with one thing wrong: a number out of range, a value of the wrong
  type, an unknown field, an unknown command type, a bad nested scene, a bad ``id``, a
  missing field, a reference to a preset, playlist, schedule or media item that is not
  there;
- now and then the valid command itself, so that the invalid ones land on a state that
  moves.

Every payload is answered on ``cmd/result``, with its ``id`` when one could be read; an
invalid one with ``ok: false`` and the specific error code (and the field at fault); after
an invalid one the stored state, settings, presets, playlists, schedules, media and tokens
are exactly as before, as are the service's own state and settings; the link stays
connected, and a final valid command still works.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiomqtt
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from lightbox.edge.media import MediaLibrary
from lightbox.edge.mqtt import MqttLink, MqttSettings, parse_mqtt_url
from lightbox.edge.service import LightBoxService
from lightbox.edge.store import Store
from lightbox.protocol import (
    COMMAND_TYPES,
    MAX_COMMAND_BYTES,
    CommandResult,
    MatrixSettings,
    Settings,
    State,
)
from lightbox.protocol.settings import NullDriver
from lightbox.protocol.topics import DeviceTopics
from tests.edge.mqtt.conftest import forget

pytestmark = pytest.mark.timeout(120)

EXAMPLES = 150
ROUND_TRIP_S = 10.0
PARSE_CODES = frozenset({"invalid_json", "invalid_command", "unknown_command"})

T = TypeVar("T")


# -- the LightBox on a loop of its own ----------------------------------------------------


class FuzzedBox:
    """Service + MqttLink + a publishing/watching client, on an event loop in a thread."""

    def __init__(self, url: str, data_dir: Path) -> None:
        self.url = url
        self.data_dir = data_dir
        tag = uuid.uuid4().hex[:10]
        self.tag = tag
        self.topics = DeviceTopics(f"dev-{tag}", f"test-{tag}")
        self.client_ids = [f"lightbox-dev-{tag}", f"pub-{tag}"]
        self.service: LightBoxService | None = None
        self.link: MqttLink | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._results: asyncio.Queue[aiomqtt.Message] | None = None
        self._client: aiomqtt.Client | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="fuzzed-box", daemon=True)

    # lifecycle
    def __enter__(self) -> FuzzedBox:
        self._thread.start()
        if not self._ready.wait(30) or self._error is not None or self.link is None:
            self.__exit__()
            raise RuntimeError("the LightBox under fuzz did not start") from self._error
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)
        assert not self._thread.is_alive(), "the LightBox under fuzz did not stop"
        if self._error is not None and (not exc or exc[0] is None):
            raise self._error

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as err:
            self._error = err
        finally:
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._results = asyncio.Queue()
        try:
            async with self._running():
                self._ready.set()
                await self._stop.wait()
        finally:
            t = self.topics
            await forget(self.url, self.client_ids, [t.status, t.state, t.info, t.cmd])

    @contextlib.asynccontextmanager
    async def _running(self) -> AsyncIterator[None]:
        """Start in order; stop in reverse (the watcher, the link, the service, the store)."""
        async with contextlib.AsyncExitStack() as stack:
            store = await asyncio.to_thread(Store.open, self.data_dir / "lightbox.db")
            stack.push_async_callback(asyncio.to_thread, store.close)
            service = LightBoxService(
                store=store,
                media=MediaLibrary(self.data_dir / "media", store),
                device_id=self.topics.device_id,
                settings=Settings(
                    name="Fuzzed", driver=NullDriver(), matrix=MatrixSettings(width=16, height=8)
                ),
                state=State(),
                seed=1,
            )
            await service.start()
            stack.push_async_callback(service.stop)
            self.service = service
            link = MqttLink(
                MqttSettings(
                    url=self.url,
                    topic_prefix=self.topics.prefix,
                    reconnect_min_s=0.1,
                    reconnect_max_s=1.0,
                ),
                service.device_id,
                service,
                info=service.info,
            )
            # as EdgeRuntime.start wires them
            service.mqtt_connected = lambda: link.connected
            service.events.on_event(
                lambda event: link.publish_state(event.state) if event.state is not None else None
            )
            link_task = asyncio.create_task(link.run(), name="mqtt-under-fuzz")
            stack.push_async_callback(asyncio.wait_for, link_task, 10)
            stack.push_async_callback(link.stop)
            await link.wait_connected(10)
            self.link = link
            parsed = parse_mqtt_url(self.url)
            client = await stack.enter_async_context(
                aiomqtt.Client(
                    parsed.host, parsed.port, identifier=f"pub-{self.tag}", clean_session=True
                )
            )
            await client.subscribe(self.topics.result, qos=1)
            self._client = client
            reader = asyncio.create_task(self._read(client), name="results-reader")
            stack.push_async_callback(_cancel, reader)
            yield

    async def _read(self, client: aiomqtt.Client) -> None:
        assert self._results is not None
        async for message in client.messages:
            self._results.put_nowait(message)

    # use (from the test's thread)
    def call(self, coro_fn: Callable[[], Any]) -> Any:
        assert self._loop is not None
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro_fn(), self._loop)
        return future.result(ROUND_TRIP_S + 5)

    def send(self, payload: bytes) -> dict[str, Any]:
        """Publish ``payload`` on cmd (QoS 1); the next result on cmd/result, as JSON."""

        async def round_trip() -> dict[str, Any]:
            assert self._client is not None and self._results is not None
            assert self._results.empty(), "a result came that nobody asked for"
            await self._client.publish(self.topics.cmd, payload, qos=1)
            try:
                message = await asyncio.wait_for(self._results.get(), ROUND_TRIP_S)
            except TimeoutError:
                raise AssertionError(f"no result within {ROUND_TRIP_S:g} s") from None
            assert message.topic.value == self.topics.result
            assert not message.retain
            assert isinstance(message.payload, bytes)
            body: dict[str, Any] = json.loads(message.payload)
            CommandResult.model_validate(body)  # the documented shape
            return body

        result: dict[str, Any] = self.call(round_trip)
        return result

    def stored(self) -> dict[str, Any]:
        """Everything a command could change, as comparable dumps (store and memory)."""
        service = self.service
        assert service is not None
        store = service.store

        def dump(item: Any) -> Any:
            return None if item is None else item.model_dump(mode="json")

        return {
            "state": dump(store.load_state()),
            "settings": dump(store.load_settings()),
            "presets": [dump(p) for p in store.list_presets()],
            "playlists": [dump(p) for p in store.list_playlists()],
            "schedules": [dump(s) for s in store.list_schedules()],
            "media": [dump(m) for m in store.list_media()],
            "tokens": [dump(t) for t in store.list_tokens()],
            "service.state": dump(service.state),
            "service.settings": dump(service.settings),
        }


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


# -- what to send, and what must come back ------------------------------------------------

_ids = itertools.count()
_RUN = uuid.uuid4().hex[:6]


def fresh_id() -> str:
    """Unique per publish (not per generated example: hypothesis replays examples)."""
    return f"fz-{_RUN}-{next(_ids)}"


@dataclass
class Case:
    """One payload and what its result must say.

    ``build`` makes the payload at send time (so that ids are fresh) and returns it with
    the id the result must carry. ``ok``: True (a valid command), False (invalid), None
    (either: e.g. random JSON that happens to be valid). ``codes``: allowed error codes
    when not ok; ``field``: the field at fault, when the case knows it.
    """

    kind: str
    build: Callable[[], tuple[bytes, str | None]]
    ok: bool | None = False
    codes: frozenset[str] = PARSE_CODES
    field: str | None = field(default=None)

    def __repr__(self) -> str:  # what hypothesis prints for a failing example
        payload, _ = self.build()
        return f"Case({self.kind!r}, {payload[:300]!r}, ok={self.ok}, codes={set(self.codes)})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))


def readable_id(payload: bytes) -> str | None:
    """The ``id`` a LightBox can read from any payload (independent of the product's code)."""
    try:
        data = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    value = data.get("id") if isinstance(data, dict) else None
    return value if isinstance(value, str) and 1 <= len(value) <= 64 else None


def raw_case(kind: str, payload: bytes) -> Case:
    try:
        data = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        codes = frozenset({"invalid_json"})
    else:
        codes = PARSE_CODES if isinstance(data, dict) else frozenset({"invalid_command"})
    if len(payload) > MAX_COMMAND_BYTES:
        codes = frozenset({"payload_too_large"})
    return Case(kind, lambda: (payload, readable_id(payload)), codes=codes)


def encode(body: dict[str, Any]) -> bytes:
    return json.dumps(body).encode()


def with_id(body: dict[str, Any]) -> tuple[bytes, str]:
    command_id = fresh_id()
    return encode({**body, "id": command_id}), command_id


# Valid commands: the bases the mutations start from.
SCENES: list[dict[str, Any]] = [
    {"type": "solid", "color": "#ff8800"},
    {"type": "text", "text": "hello", "speed": 30, "mode": "scroll"},
    {"type": "effect", "effect": "plasma", "speed": 100, "intensity": 50},
    {"type": "clock", "format": "24h"},
]


def valid_commands() -> st.SearchStrategy[dict[str, Any]]:
    scene = st.sampled_from(SCENES)
    return st.one_of(
        st.builds(lambda b: {"type": "set", "brightness": b}, st.integers(0, 255)),
        st.builds(lambda p: {"type": "set", "power": p}, st.booleans()),
        st.builds(lambda s: {"type": "set", "scene": s}, scene),
        st.builds(
            lambda s, b: {"type": "set", "scene": s, "brightness": b},
            scene,
            st.integers(0, 255),
        ),
        st.builds(lambda d: {"type": "identify", "duration_s": d}, st.sampled_from([0.5, 1.0])),
        st.builds(
            lambda n, s: {
                "type": "preset.save",
                "preset": {"id": f"fuzz-{n}", "name": f"Fuzz {n}", "scene": s},
            },
            st.integers(0, 3),
            scene,
        ),
        st.builds(
            lambda name: {
                "type": "settings.set",
                "settings": Settings(
                    name=name, driver=NullDriver(), matrix=MatrixSettings(width=16, height=8)
                ).model_dump(mode="json"),
            },
            st.sampled_from(["Fuzzed", "Fuzzed again"]),
        ),
        st.just({"type": "playlist.stop"}),
    )


# One thing wrong: (path to the value, new value, expected code, expected field)
Mutation = tuple[tuple[str, ...], Any, str, str | None]

_DELETE = object()


def _set_path(body: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(json.dumps(body))
    node = out
    for key in path[:-1]:
        node = node[key]
    if value is _DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return out


def _out_of_range(body: dict[str, Any]) -> st.SearchStrategy[Mutation]:
    bad_int = st.one_of(st.integers(max_value=-1), st.integers(min_value=256))
    options: list[st.SearchStrategy[Mutation]] = []
    kind = body["type"]
    if kind == "set":
        options.append(bad_int.map(lambda v: (("brightness",), v, "invalid_command", "brightness")))
        scene = body.get("scene")
        if scene is not None and scene["type"] == "text":
            options.append(
                st.sampled_from([0, 0.5, 501, 1e9]).map(
                    lambda v: (("scene", "speed"), v, "invalid_command", "scene.speed")
                )
            )
        if scene is not None and scene["type"] == "effect":
            options.append(
                bad_int.map(
                    lambda v: (("scene", "intensity"), v, "invalid_command", "scene.intensity")
                )
            )
    if kind == "identify":
        options.append(
            st.one_of(st.floats(max_value=0.49, allow_nan=False), st.floats(min_value=60.01)).map(
                lambda v: (("duration_s",), v, "invalid_command", "duration_s")
            )
        )
    if kind == "preset.save":
        options.append(
            bad_int.map(
                lambda v: (("preset", "brightness"), v, "invalid_command", "preset.brightness")
            )
        )
    if kind == "settings.set":
        options.append(
            st.sampled_from([0, -1, 100_000]).map(
                lambda v: (
                    ("settings", "matrix", "width"),
                    v,
                    "invalid_command",
                    "settings.matrix.width",
                )
            )
        )
    if not options:  # playlist.stop has no numbers: its sibling playlist.step, off by some
        return st.sampled_from([0, 2, -2, 10]).map(
            lambda v: ((), {"type": "playlist.step", "step": v}, "invalid_command", "step")
        )
    return st.one_of(options)


_WRONG_TYPES = st.one_of(
    st.text(max_size=8).map(lambda s: f"x{s}"),  # never read as a number ("12", "inf")
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)


def _wrong_type(body: dict[str, Any]) -> st.SearchStrategy[Mutation]:
    kind = body["type"]
    if kind == "set" and "brightness" in body:
        return _WRONG_TYPES.map(lambda v: (("brightness",), v, "invalid_command", "brightness"))
    if kind == "set" and "power" in body:
        return st.one_of(
            st.integers(), st.sampled_from(["true", "yes", "on", "1"]), _WRONG_TYPES
        ).map(lambda v: (("power",), v, "invalid_command", "power"))
    if kind == "set":
        return st.one_of(st.integers(), st.text(max_size=8), st.lists(st.integers())).map(
            lambda v: (("scene",), v, "invalid_command", "scene")
        )
    if kind == "identify":
        return _WRONG_TYPES.map(lambda v: (("duration_s",), v, "invalid_command", "duration_s"))
    if kind == "preset.save":
        return st.one_of(st.integers(), st.lists(st.integers(), max_size=2)).map(
            lambda v: (("preset", "name"), v, "invalid_command", "preset.name")
        )
    if kind == "settings.set":
        return st.one_of(st.integers(), st.text(max_size=8)).map(
            lambda v: (("settings",), v, "invalid_command", "settings")
        )
    return st.one_of(st.integers(), st.booleans()).map(
        lambda v: (("type",), v, "unknown_command", "type")
    )


def _unknown_field(body: dict[str, Any]) -> st.SearchStrategy[Mutation]:
    name = st.text(min_size=1, max_size=12).map(lambda s: f"x-{s}")  # no field has a dash
    where: list[tuple[str, ...]] = [()]
    if "scene" in body:
        where.append(("scene",))
    if body["type"] == "preset.save":
        where.extend([("preset",), ("preset", "scene")])
    if body["type"] == "settings.set":
        where.append(("settings", "matrix"))
    value = st.one_of(st.integers(), st.text(max_size=5), st.none(), st.booleans())
    return st.tuples(st.sampled_from(where), name, value).map(
        lambda t: (
            (*t[0], t[1]),
            t[2],
            "invalid_command",
            ".".join((*t[0], t[1])),
        )
    )


def _unknown_type(body: dict[str, Any]) -> st.SearchStrategy[Mutation]:
    other = st.one_of(
        st.text(max_size=20).filter(lambda s: s not in COMMAND_TYPES),
        st.sampled_from(["SET", "set ", "preset", "dance", "identify.now", ""]),
        st.integers(),
        st.none(),
    )
    return other.map(lambda v: (("type",), v, "unknown_command", "type"))


_BAD_SCENES: list[tuple[dict[str, Any], str]] = [
    ({"type": "dance"}, ""),
    ({}, ""),
    ({"type": "text"}, ".text"),
    ({"type": "text", "text": ""}, ".text"),
    ({"type": "text", "text": "x" * 1025}, ".text"),
    ({"type": "text", "text": "hi", "font": "comic-sans"}, ".font"),
    ({"type": "text", "text": "hi", "size": 12}, ""),
    ({"type": "solid", "color": "red-ish"}, ".color"),
    ({"type": "solid", "color": [300, 0, 0]}, ".color"),
    ({"type": "solid", "color": "#12345"}, ".color"),
    ({"type": "effect", "effect": "no-such-effect"}, ".effect"),
    ({"type": "effect", "effect": "plasma", "params": {"nope": 1}}, ".effect"),
    ({"type": "effect", "effect": "plasma", "palette": "no-such-palette"}, ".effect"),
    ({"type": "effect", "effect": "plasma", "colors": ["#fff"] * 4}, ".colors"),
    ({"type": "clock", "format": "25h"}, ".format"),
    ({"type": "image"}, ".media"),
    ({"type": "layers", "layers": "all of them"}, ".layers"),
]


def _bad_scene(body: dict[str, Any]) -> st.SearchStrategy[Mutation]:
    if body["type"] == "preset.save":
        base: tuple[str, ...] = ("preset", "scene")
    elif body["type"] == "set":
        base = ("scene",)
    else:
        return _unknown_field(body)
    prefix = ".".join(base)
    return st.sampled_from(_BAD_SCENES).map(
        lambda s: (base, s[0], "invalid_command", None if not s[1] else prefix + s[1])
    )


def _missing(body: dict[str, Any]) -> st.SearchStrategy[Mutation]:
    kind = body["type"]
    if kind == "set":
        bare = {"type": "set"}
        return st.just(((), bare, "invalid_command", None))
    if kind == "preset.save":
        return st.sampled_from(["id", "name", "scene"]).map(
            lambda k: (("preset", k), _DELETE, "invalid_command", f"preset.{k}")
        )
    if kind == "settings.set":
        return st.just((("settings",), _DELETE, "invalid_command", "settings"))
    return st.just((("type",), _DELETE, "invalid_command", "type"))


MUTATIONS: dict[str, Callable[[dict[str, Any]], st.SearchStrategy[Mutation]]] = {
    "out of range": _out_of_range,
    "wrong type": _wrong_type,
    "unknown field": _unknown_field,
    "unknown type": _unknown_type,
    "bad scene": _bad_scene,
    "missing field": _missing,
}


def _mutated_case(kind: str, body: dict[str, Any], mutation: Mutation) -> Case:
    path, value, code, fault = mutation
    bad = value if path == () else _set_path(body, path, value)
    return Case(
        f"{kind}: {body['type']}", lambda: with_id(bad), codes=frozenset({code}), field=fault
    )


@st.composite
def near_valid(draw: st.DrawFn) -> Case:
    body = draw(valid_commands())
    kind = draw(st.sampled_from(sorted(MUTATIONS)))
    return _mutated_case(kind, body, draw(MUTATIONS[kind](body)))


def bad_id_cases() -> st.SearchStrategy[Case]:
    body = {"type": "set", "brightness": 7}

    def spaced() -> tuple[bytes, str]:
        command_id = f"bad id {fresh_id()}"
        return encode({**body, "id": command_id}), command_id

    def too_long() -> tuple[bytes, None]:
        return encode({**body, "id": fresh_id() + "x" * 64}), None

    def wrong_type() -> tuple[bytes, None]:
        return encode({**body, "id": 12345}), None

    return st.sampled_from(
        [
            Case("id with spaces", spaced, codes=frozenset({"invalid_command"}), field="id"),
            Case("id too long", too_long, codes=frozenset({"invalid_command"}), field="id"),
            Case("id a number", wrong_type, codes=frozenset({"invalid_command"}), field="id"),
        ]
    )


def dangling_cases() -> st.SearchStrategy[Case]:
    """Well-formed commands naming something that is not there: refused by the service."""

    def missing(field_name: str, body: Callable[[str], dict[str, Any]]) -> Case:
        return Case(
            f"dangling {field_name}",
            lambda: with_id(body(f"missing-{fresh_id()[-12:]}")),
            codes=frozenset({"not_found", "media_not_found"}),
            field=field_name,
        )

    scene = {"type": "solid"}
    return st.sampled_from(
        [
            missing("preset", lambda x: {"type": "preset.apply", "preset": x}),
            missing("preset", lambda x: {"type": "preset.delete", "preset": x}),
            missing("playlist", lambda x: {"type": "playlist.start", "playlist": x}),
            missing("playlist", lambda x: {"type": "playlist.delete", "playlist": x}),
            missing("schedule", lambda x: {"type": "schedule.delete", "schedule": x}),
            missing("scene", lambda x: {"type": "set", "scene": {"type": "image", "media": x}}),
            missing(
                "playlist.entries",
                lambda x: {
                    "type": "playlist.save",
                    "playlist": {"id": "fuzz-pl", "name": "P", "entries": [{"preset": x}]},
                },
            ),
            missing(
                "preset.scene",
                lambda x: {
                    "type": "preset.save",
                    "preset": {"id": "fuzz-m", "name": "M", "scene": {"type": "gif", "media": x}},
                },
            ),
            Case(
                "step without a playlist",
                lambda: with_id({"type": "playlist.step", "step": 1}),
                codes=frozenset({"conflict"}),
                field="playlist",
            ),
        ]
    ) | st.just(Case("solid scene", lambda: with_id({"type": "set", "scene": scene}), ok=True))


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def json_objects(draw: st.DrawFn) -> Case:
    """A JSON object with a fresh id; its type absent, wrong, or a real one (+ junk)."""
    body = draw(st.dictionaries(st.text(max_size=10), JSON, max_size=5))
    body.pop("id", None)
    type_choice = draw(st.sampled_from(["absent", "random", "real"]))
    if type_choice == "absent":
        body.pop("type", None)
        return Case(
            "object without type",
            lambda: with_id(body),
            codes=frozenset({"invalid_command"}),
            field="type",
        )
    if type_choice == "random":
        body["type"] = draw(JSON.filter(lambda v: not (isinstance(v, str) and v in COMMAND_TYPES)))
        return Case(
            "object of unknown type",
            lambda: with_id(body),
            codes=frozenset({"unknown_command"}),
            field="type",
        )
    body["type"] = draw(st.sampled_from(COMMAND_TYPES))
    return Case(
        "object of a real type",
        lambda: with_id(body),
        ok=None,
        codes=PARSE_CODES | {"not_found", "conflict"},
    )


def cut_short() -> st.SearchStrategy[Case]:
    return st.tuples(valid_commands(), st.floats(0, 1, exclude_max=True)).map(
        lambda t: raw_case("cut short", encode(t[0])[: int(len(encode(t[0])) * t[1])])
    )


def json_values() -> st.SearchStrategy[Case]:
    not_objects = JSON.filter(lambda v: not isinstance(v, dict))
    return not_objects.map(lambda v: raw_case("JSON value", json.dumps(v).encode()))


def valid_cases() -> st.SearchStrategy[Case]:
    return valid_commands().map(
        lambda body: Case(f"valid {body['type']}", lambda: with_id(body), ok=True)
    )


PAYLOADS = st.one_of(
    st.binary(max_size=300).map(lambda b: raw_case("bytes", b)),
    st.text(max_size=120).map(lambda s: raw_case("text", s.encode())),
    cut_short(),
    json_values(),
    json_objects(),
    near_valid(),
    near_valid(),
    near_valid(),
    bad_id_cases(),
    dangling_cases(),
    valid_cases(),
)


# -- the test -----------------------------------------------------------------------------


@pytest.fixture
def box(broker_url: str, tmp_path: Path) -> Iterator[FuzzedBox]:
    with FuzzedBox(broker_url, tmp_path) as b:
        yield b


def check(box: FuzzedBox, case: Case) -> None:
    payload, expected_id = case.build()
    before = box.stored()
    result = box.send(payload)
    assert result["id"] == expected_id, (case, result)
    if case.ok is True:
        assert result["ok"] is True, (case, result)
    if case.ok is False:
        assert result["ok"] is False, (case, result)
    if not result["ok"]:
        error = result["error"]
        assert error is not None and error["message"], (case, result)
        assert error["code"] in case.codes, (case, result)
        if case.field is not None:
            assert error.get("field") == case.field, (case, result)
        assert box.stored() == before, f"{case} changed what is stored"
    else:
        assert result["error"] is None
    assert box.link is not None and box.link.connected


def test_every_payload_is_answered_and_invalid_ones_change_nothing(
    box: FuzzedBox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    service = box.service
    assert service is not None
    seen: dict[str, int] = {}

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        derandomize=False,
    )
    @given(case=PAYLOADS)
    @example(case=raw_case("empty", b""))
    @example(case=raw_case("deep", b"[" * 100_000))
    @example(
        case=raw_case(
            "too large",
            b'{"type": "set", "brightness": 1, "x": "' + b"a" * MAX_COMMAND_BYTES + b'"}',
        )
    )
    @example(case=raw_case("not UTF-8", b'{"type": "set", "brightness": 1, "id": "\xff"}'))
    @example(case=raw_case("NaN", b'{"type": "set", "brightness": NaN}'))
    def fuzz(case: Case) -> None:
        seen[case.kind] = seen.get(case.kind, 0) + 1
        check(box, case)

    fuzz()
    assert sum(seen.values()) >= EXAMPLES

    # still alive and well: a last valid command is applied and stored
    errors_before = service.command_errors
    target = 17 if service.state.brightness != 17 else 18
    payload, command_id = with_id({"type": "set", "brightness": target, "power": True})
    result = box.send(payload)
    assert result == {"id": command_id, "ok": True, "error": None, "version": result["version"]}
    assert service.state.brightness == target
    stored = service.store.load_state()
    assert stored is not None and stored.brightness == target
    assert service.command_errors == errors_before
    assert box.link is not None and box.link.connected
    # nothing crashed on the way: no lost connection, no command failing inside
    trouble = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert not trouble, [f"{r.name}: {r.getMessage()}" for r in trouble]
    print(f"fuzzed payloads by kind: {dict(sorted(seen.items()))}")
