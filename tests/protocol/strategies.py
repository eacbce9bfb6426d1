"""Hypothesis strategies for valid wire values (shared by protocol and transport tests)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from lightbox.protocol.catalog import EFFECTS, PALETTES
from lightbox.protocol.fonts import FONT_NAMES

ids = st.from_regex(r"\A[a-z0-9][a-z0-9_-]{0,20}\Z")
names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=64)
colors = st.one_of(
    st.tuples(*[st.integers(0, 255)] * 3).map(list),
    st.tuples(*[st.integers(0, 255)] * 3).map(lambda c: "#{:02x}{:02x}{:02x}".format(*c)),
)
zones = st.sampled_from(["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"])


@st.composite
def effect_scenes(draw: st.DrawFn) -> dict[str, Any]:
    info = draw(st.sampled_from(EFFECTS))
    params: dict[str, Any] = {}
    for spec in info.params:
        if not draw(st.booleans()):
            continue
        if spec.type == "bool":
            params[spec.name] = draw(st.booleans())
        elif spec.type == "choice":
            params[spec.name] = draw(st.sampled_from(spec.choices or ()))
        elif spec.type == "int":
            params[spec.name] = draw(st.integers(int(spec.minimum or 0), int(spec.maximum or 100)))
        else:
            params[spec.name] = draw(
                st.floats(spec.minimum or 0.0, spec.maximum or 1.0, allow_nan=False)
            )
    scene: dict[str, Any] = {"type": "effect", "effect": info.name, "params": params}
    if draw(st.booleans()):
        scene["speed"] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        scene["palette"] = draw(st.sampled_from([p.name for p in PALETTES]))
    if draw(st.booleans()):
        scene["colors"] = draw(st.lists(colors, max_size=3))
    return scene


text_scenes = st.fixed_dictionaries(
    {"type": st.just("text"), "text": st.text(min_size=1, max_size=40)},
    optional={
        "font": st.sampled_from([f for f in FONT_NAMES if f != "scalable"]),
        "color": colors,
        "background": st.one_of(st.none(), colors),
        "mode": st.sampled_from(["static", "scroll"]),
        "speed": st.floats(1, 500, allow_nan=False),
        "direction": st.sampled_from(["left", "right", "up", "down"]),
        "align": st.sampled_from(["left", "center", "right"]),
        "loops": st.integers(0, 10),
    },
)
base_scenes = st.one_of(
    st.fixed_dictionaries({"type": st.just("solid"), "color": colors}),
    text_scenes,
    effect_scenes(),
    st.fixed_dictionaries(
        {"type": st.just("image"), "media": st.from_regex(r"\A[a-z0-9][a-z0-9._-]{0,20}\Z")},
        optional={"fit": st.sampled_from(["contain", "cover", "fill", "center"])},
    ),
    st.fixed_dictionaries(
        {"type": st.just("gif"), "media": st.just("anim.gif")},
        optional={"loops": st.one_of(st.none(), st.integers(0, 5)), "speed": st.just(2.0)},
    ),
    st.fixed_dictionaries(
        {"type": st.just("clock")},
        optional={
            "format": st.sampled_from(["12h", "24h"]),
            "seconds": st.booleans(),
            "date": st.booleans(),
            "timezone": zones,
        },
    ),
    st.fixed_dictionaries(
        {"type": st.just("stream")},
        optional={
            "source": st.sampled_from(["any", "e131", "artnet", "ddp"]),
            "timeout_ms": st.integers(100, 10_000),
        },
    ),
)
layers = st.fixed_dictionaries(
    {"scene": base_scenes},
    optional={
        "opacity": st.floats(0, 1, allow_nan=False),
        "blend": st.sampled_from(["normal", "add", "screen", "multiply"]),
    },
)
scenes = st.one_of(
    base_scenes,
    st.fixed_dictionaries(
        {"type": st.just("layers"), "layers": st.lists(layers, min_size=1, max_size=3)}
    ),
)
transitions = st.fixed_dictionaries(
    {},
    optional={
        "kind": st.sampled_from(
            ["cut", "fade", "wipe_left", "wipe_right", "wipe_up", "wipe_down", "dissolve"]
        ),
        "duration_ms": st.integers(0, 60_000),
    },
)
command_ids = st.one_of(st.none(), st.from_regex(r"\A[\x21-\x7e]{1,64}\Z"))


@st.composite
def set_commands(draw: st.DrawFn) -> dict[str, Any]:
    cmd: dict[str, Any] = {"type": "set"}
    fields = draw(st.sets(st.sampled_from(["power", "brightness", "scene"]), min_size=1))
    if "power" in fields:
        cmd["power"] = draw(st.booleans())
    if "brightness" in fields:
        cmd["brightness"] = draw(st.integers(0, 255))
    if "scene" in fields:
        cmd["scene"] = draw(scenes)
    if draw(st.booleans()):
        cmd["transition"] = draw(transitions)
    return cmd


presets = st.fixed_dictionaries(
    {"id": ids, "name": names, "scene": scenes},
    optional={"brightness": st.integers(0, 255), "transition": transitions},
)
playlists = st.fixed_dictionaries(
    {
        "id": ids,
        "name": names,
        "entries": st.lists(
            st.fixed_dictionaries({"preset": ids}, optional={"duration_s": st.floats(0.5, 3600)}),
            min_size=1,
            max_size=5,
        ),
    },
    optional={"repeat": st.integers(0, 10), "shuffle": st.booleans()},
)
schedules = st.fixed_dictionaries(
    {
        "id": ids,
        "name": names,
        "trigger": st.one_of(
            st.builds(
                lambda h, m: {"type": "time", "at": f"{h:02d}:{m:02d}"},
                st.integers(0, 23),
                st.integers(0, 59),
            ),
            st.builds(
                lambda e, o: {"type": "sun", "event": e, "offset_min": o},
                st.sampled_from(["sunrise", "sunset"]),
                st.integers(-720, 720),
            ),
        ),
        "action": st.one_of(
            set_commands(), st.builds(lambda p: {"type": "preset.apply", "preset": p}, ids)
        ),
    },
    optional={
        "days": st.lists(
            st.sampled_from(["mon", "tue", "wed", "thu", "fri", "sat", "sun"]),
            min_size=1,
            max_size=7,
            unique=True,
        ),
        "timezone": zones,
        "enabled": st.booleans(),
    },
)


@st.composite
def commands(draw: st.DrawFn) -> dict[str, Any]:
    cmd = draw(
        st.one_of(
            set_commands(),
            st.builds(lambda p: {"type": "preset.apply", "preset": p}, ids),
            st.builds(lambda p: {"type": "preset.save", "preset": p}, presets),
            st.builds(lambda p: {"type": "preset.delete", "preset": p}, ids),
            st.builds(lambda p: {"type": "playlist.start", "playlist": p}, ids),
            st.just({"type": "playlist.stop"}),
            st.builds(lambda s: {"type": "playlist.step", "step": s}, st.sampled_from([-1, 1])),
            st.builds(lambda p: {"type": "playlist.save", "playlist": p}, playlists),
            st.builds(lambda s: {"type": "schedule.save", "schedule": s}, schedules),
            st.builds(lambda d: {"type": "identify", "duration_s": d}, st.floats(0.5, 60)),
        )
    )
    cid = draw(command_ids)
    if cid is not None:
        cmd["id"] = cid
    return cmd
