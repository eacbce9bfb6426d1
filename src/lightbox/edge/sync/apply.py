"""Turn a merged document into the service's commands (the cloud's changes, applied).

:func:`plan` compares what the merged document shows with what the service has, and
returns the commands that take the service there, in an order its cross-object rules
accept: presets saved first, then playlists, settings (a sun schedule needs the location),
schedules; deletions the other way round (schedules, playlists, presets); the state last
(a preset can only be applied once it exists).

Keys that do not validate as models (:class:`~lightbox.sync.SyncValidationError`) are left
at the service's value and returned as ``skipped``: the agent reports them and records the
service's value as the device's answer, so both sides converge on something the LightBox
can show and the refusal never loops.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lightbox.protocol import (
    Command,
    PlaylistDeleteCommand,
    PlaylistSaveCommand,
    PresetDeleteCommand,
    PresetSaveCommand,
    ScheduleDeleteCommand,
    ScheduleSaveCommand,
    SettingsCommand,
    State,
)
from lightbox.sync import (
    SyncModels,
    SyncValidationError,
    SyncView,
    flatten,
    split_entry_key,
    to_models,
    unflatten,
)
from lightbox.sync.document import canonical

__all__ = ["Plan", "plan"]


@dataclass(slots=True)
class Plan:
    """The commands for the library and settings, and the state to reach afterwards."""

    commands: list[Command] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)
    """The synced state fields that differ (``power``, ``brightness``, ``scene``, ...)."""
    skipped: dict[str, str] = field(default_factory=dict)
    """Document keys left alone because they do not validate: key → why."""

    @property
    def empty(self) -> bool:
        return not self.commands and not self.state


def _validated(
    target: SyncView, current: SyncView, runtime: State
) -> tuple[SyncModels, dict[str, str]]:
    """``to_models(target)``, with keys that do not validate put back to ``current``."""
    try:
        return to_models(target, runtime=runtime), {}
    except SyncValidationError as err:
        problems = dict(err.problems)
        if not problems:
            raise
    values = flatten(target)
    now = flatten(current)
    for key in problems:
        # a problem may name a parent path ("settings.output") of flattened keys
        hits = [k for k in values if k == key or k.startswith(key + ".")] or [key]
        for hit in hits:
            if hit in now:
                values[hit] = now[hit]
            else:
                values.pop(hit, None)
    return to_models(unflatten(values), runtime=runtime), problems


def _differs(a: Mapping[str, Any], b: Mapping[str, Any], key: str) -> bool:
    return key not in b or canonical(a[key]) != canonical(b[key])


def plan(target: SyncView, current: SyncView, runtime: State) -> Plan:
    """The commands that take the service from ``current`` to ``target``."""
    models, skipped = _validated(target, current, runtime)
    out = Plan(skipped=skipped)
    want, have = flatten(target), flatten(current)
    for key in skipped:
        want.pop(key, None)
    presets = {p.id: p for p in models.presets}
    playlists = {p.id: p for p in models.playlists}
    schedules = {s.id: s for s in models.schedules}
    valid = {
        "presets": presets.keys(),
        "playlists": playlists.keys(),
        "schedules": schedules.keys(),
    }
    saves: dict[str, list[str]] = {"presets": [], "playlists": [], "schedules": []}
    deletes: dict[str, list[str]] = {"presets": [], "playlists": [], "schedules": []}
    settings_changed = False
    for key in sorted(want.keys() | have.keys()):
        entry = split_entry_key(key)
        if entry is not None:
            collection, item_id = entry
            if key in want and item_id in valid[collection]:
                if _differs(want, have, key):
                    saves[collection].append(item_id)
            elif key in have and key not in want and key not in skipped:
                deletes[collection].append(item_id)
        elif key.startswith("settings.") and key in want and _differs(want, have, key):
            settings_changed = True
        elif key.startswith("state.") and key in want and _differs(want, have, key):
            out.state[key.removeprefix("state.")] = getattr(models.state, key[6:])
    commands = out.commands
    commands += [PresetSaveCommand(preset=presets[i]) for i in saves["presets"]]
    commands += [PlaylistSaveCommand(playlist=playlists[i]) for i in saves["playlists"]]
    if settings_changed:
        commands.append(SettingsCommand(settings=models.settings))
    commands += [ScheduleSaveCommand(schedule=schedules[i]) for i in saves["schedules"]]
    commands += [ScheduleDeleteCommand(schedule=i) for i in deletes["schedules"]]
    commands += [PlaylistDeleteCommand(playlist=i) for i in deletes["playlists"]]
    commands += [PresetDeleteCommand(preset=i) for i in deletes["presets"]]
    return out
