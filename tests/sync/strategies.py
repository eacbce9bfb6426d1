"""Hypothesis strategies for sync tests: timestamps crowded into ties, small documents."""

from __future__ import annotations

from hypothesis import strategies as st

from lightbox.sync import TOMBSTONE, Document, Register, Timestamp

origins = st.sampled_from(["cloud", "device"])
# Few distinct walls and counters: equal wall times and exact ties are common.
timestamps = st.builds(Timestamp, st.integers(0, 4), st.integers(0, 2), origins)
wide_timestamps = st.builds(
    Timestamp, st.integers(0, 16**12 - 1), st.integers(0, 16**4 - 1), origins
)
FIELD_KEYS = ["state.brightness", "state.scene", "settings.name", "settings.output.gamma"]
ENTRY_KEYS = ["presets/a", "presets/b", "playlists/p", "schedules/s"]
values = st.one_of(
    st.none(),
    st.integers(0, 3),
    st.sampled_from(["x", "y"]),
    st.fixed_dictionaries({"v": st.integers(0, 2)}),
)


@st.composite
def registers(draw: st.DrawFn, key: str) -> Register:
    ts = draw(timestamps)
    if key in ENTRY_KEYS and draw(st.booleans()):
        return Register(TOMBSTONE, ts)
    return Register(draw(values), ts)


@st.composite
def documents(draw: st.DrawFn) -> Document:
    keys = draw(st.sets(st.sampled_from(FIELD_KEYS + ENTRY_KEYS)))
    regs = {key: draw(registers(key)) for key in keys}
    top = draw(st.one_of(st.none(), timestamps))
    return Document(regs, top)
