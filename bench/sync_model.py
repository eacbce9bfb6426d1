"""Bytes per simulated day: delta sync beside full-state sync, on the pure sync model.

A device with presets, playlists and schedules is used through a day: brightness bursts,
presets applied, power toggles, a preset edited, a setting changed. Every batch interval
with a change sends either the whole document (full) or the delta since the last ack plus
the ack back (delta). No transport: this measures the wire format and the merge rules only.
Last line: ``sync model: delta <pct>% of full (<delta> B vs <full> B per day)``.
"""

from __future__ import annotations

import random

from lightbox.protocol.library import Playlist, PlaylistEntry, Preset, Schedule, TimeTrigger
from lightbox.protocol.scenes import EffectScene, SolidScene, TextScene
from lightbox.protocol.settings import Settings
from lightbox.protocol.state import State
from lightbox.sync import (
    Document,
    Hlc,
    PeerMarks,
    acknowledge,
    changes,
    document_view,
    empty_view,
    encode_ack,
    encode_delta,
    from_models,
    outgoing,
    receive,
    snapshot,
)

DAY_MS = 86_400_000
BATCH_MS = 5_000


def library() -> tuple[list[Preset], list[Playlist], list[Schedule]]:
    scenes = [
        SolidScene(color="#ff8800"),
        EffectScene(effect="rainbow"),
        TextScene(text="Welcome home"),
        EffectScene(effect="rainbow", speed=40),
    ]
    presets = [
        Preset(id=f"preset-{i}", name=f"Preset {i}", scene=scenes[i % len(scenes)])
        for i in range(8)
    ]
    playlists = [
        Playlist(
            id=f"loop-{j}",
            name=f"Loop {j}",
            entries=tuple(PlaylistEntry(preset=p.id) for p in presets[j : j + 4]),
        )
        for j in range(2)
    ]
    schedules = [
        Schedule.model_validate(
            {
                "id": f"rule-{k}",
                "name": f"Rule {k}",
                "trigger": TimeTrigger(at=f"0{7 + k}:30").model_dump(),
                "action": {"type": "preset.apply", "preset": presets[k].id},
            }
        )
        for k in range(3)
    ]
    return presets, playlists, schedules


def main() -> None:
    rng = random.Random(1)
    presets, playlists, schedules = library()
    state, settings = State(), Settings()
    now = [1_717_400_000_000]
    clock = Hlc("device", lambda: now[0])
    view = from_models(state, settings, presets, playlists, schedules)
    doc = Document().record(changes(empty_view(), view), clock.tick())
    marks, cloud, cloud_marks = PeerMarks(), Document(), PeerMarks()
    # the day's events: (time, what)
    events: list[tuple[int, str]] = []
    for _ in range(12):  # brightness bursts of a few steps
        t = rng.randrange(DAY_MS)
        events += [(t + i * 300, "brightness") for i in range(rng.randint(2, 6))]
    events += [(rng.randrange(DAY_MS), "preset") for _ in range(15)]
    events += [(rng.randrange(DAY_MS), "power") for _ in range(4)]
    events += [(rng.randrange(DAY_MS), "edit-preset"), (rng.randrange(DAY_MS), "setting")]
    events.sort()
    start = now[0]
    full_bytes = delta_bytes = 0
    pending, window_end = True, start + BATCH_MS  # the first sync sends it all, both ways
    for at, what in [*events, (DAY_MS, "end")]:
        if pending and (what == "end" or start + at >= window_end):
            now[0] = window_end
            full_bytes += len(snapshot(doc, origin="device"))
            delta, marks = outgoing(doc, marks, origin="device", peer="cloud")
            got = receive(cloud, cloud_marks, delta)
            cloud, cloud_marks = got.document, got.marks
            marks = acknowledge(marks, got.ack)
            delta_bytes += len(encode_delta(delta)) + len(encode_ack(got.ack))
            pending = False
        if what == "end":
            break
        now[0] = start + at
        old = document_view(doc)
        if what == "brightness":
            state = state.model_copy(update={"brightness": rng.randint(5, 255)})
        elif what == "power":
            state = state.model_copy(update={"power": not state.power})
        elif what == "preset":
            p = rng.choice(presets)
            state = state.model_copy(update={"scene": p.scene, "preset": p.id})
        elif what == "edit-preset":
            presets[0] = presets[0].model_copy(update={"name": "Renamed"})
        else:
            settings = Settings.model_validate({"name": "Hall", "output": {"gamma": 2.0}})
        new = from_models(state, settings, presets, playlists, schedules)
        batch = changes(old, new)
        if batch:
            doc = doc.record(batch, clock.tick())
            if not pending:
                pending, window_end = True, now[0] + BATCH_MS
    assert cloud.values() == doc.values()
    pct = 100 * delta_bytes / full_bytes
    print(f"events: {len(events)}, full document: {len(snapshot(doc, origin='device'))} B")
    print(f"sync model: delta {pct:.1f}% of full ({delta_bytes} B vs {full_bytes} B per day)")


if __name__ == "__main__":
    main()
