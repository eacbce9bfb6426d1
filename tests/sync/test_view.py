from __future__ import annotations

import pytest

from lightbox.protocol.library import Playlist, PlaylistEntry, Preset
from lightbox.protocol.scenes import SolidScene
from lightbox.protocol.settings import Settings
from lightbox.protocol.state import State
from lightbox.sync import (
    TOMBSTONE,
    Change,
    Document,
    SyncValidationError,
    Timestamp,
    changes,
    document_view,
    empty_view,
    flatten,
    from_models,
    to_models,
    unflatten,
)

PRESET = Preset(id="red", name="Red", scene=SolidScene(color="#ff0000"))
PLAYLIST = Playlist(id="loop", name="Loop", entries=(PlaylistEntry(preset="red"),))


def test_models_round_trip_through_a_document() -> None:
    view = from_models(State(brightness=9), Settings(name="Hall"), [PRESET], [PLAYLIST])
    doc = Document().record(changes(empty_view(), view), Timestamp(1, 0, "device"))
    models = to_models(document_view(doc), runtime=State(version=41))
    assert models.state.brightness == 9
    assert models.state.version == 41
    assert models.settings.name == "Hall"
    assert models.presets == (PRESET,)
    assert models.playlists == (PLAYLIST,)
    assert unflatten(flatten(view)) == view


def test_runtime_fields_do_not_sync() -> None:
    keys = flatten(from_models(State(), Settings()))
    assert not {k for k in keys if k.split(".")[1] in ("playlist", "schedule", "version")}
    assert "settings.output.power.budget_ma" in keys
    assert "settings.matrix" in keys  # whole
    assert "settings.matrix.width" not in keys
    assert "settings.driver" in keys


def test_changes_are_per_field_and_entry() -> None:
    old = from_models(State(), Settings(), [PRESET])
    settings = Settings.model_validate({"output": {"gamma": 1.8}})
    new = from_models(State(brightness=3), settings)
    assert changes(old, new) == [
        Change("presets/red", TOMBSTONE),
        Change("settings.output.gamma", 1.8),
        Change("state.brightness", 3),
    ]
    assert changes(new, new) == []


def test_scene_and_preset_change_together() -> None:
    old = from_models(State(preset="red"), Settings())
    new = from_models(State(preset="red", scene=SolidScene()), Settings())
    assert [c.key for c in changes(old, new)] == ["state.preset", "state.scene"]


def test_invalid_merge_names_the_keys() -> None:
    view = from_models(State(), Settings(), [PRESET])
    view["state"]["brightness"] = 999
    view["settings"]["matrix"] = {"width": 64, "height": 32, "panel_width": 30}
    view["settings"]["output"]["power"]["budget_ma"] = -1
    view["presets"]["red"] = {"id": "blue", "name": "x", "scene": {"type": "solid"}}
    view["presets"]["bad"] = {"id": "bad"}
    with pytest.raises(SyncValidationError) as info:
        to_models(view)
    assert info.value.keys == [
        "presets/bad",
        "presets/red",
        "settings.matrix",
        "settings.output.power.budget_ma",
        "state.brightness",
    ]
    assert "not 'red'" in info.value.problems["presets/red"]


def test_unknown_keys_from_a_newer_peer_are_ignored() -> None:
    view = unflatten({"state.glow": 1, "settings.matrix.width": 5, "wat": 2, "settings.name": "a"})
    assert view == {**empty_view(), "settings": {"name": "a"}}
