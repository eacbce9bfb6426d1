"""The plain view of a device's synced data, and the diff that turns edits into changes.

A :class:`SyncView` is what the service knows as models, as plain JSON-able dicts::

    {"state": {"power": ..., "brightness": ..., "scene": ..., "transition": ...,
               "preset": ...},
     "settings": {...Settings dump...},
     "presets": {id: {...Preset dump...}}, "playlists": {...}, "schedules": {...}}

Which fields sync, and at which grain (the document keys):

- ``state.power``, ``state.brightness``, ``state.scene``, ``state.transition``,
  ``state.preset``. A scene is one value (two half-edited scenes never mix);
  ``state.preset`` always travels with ``state.scene`` (see :data:`COUPLED`). The
  runtime fields ``playlist`` (cursor), ``schedule`` (last and next firing) and
  ``version`` (a local counter) do not sync: each side keeps its own.
- settings per leaf field (``settings.name``, ``settings.output.gamma``,
  ``settings.output.power.budget_ma``...), except the sub-objects that only make sense
  whole: ``settings.matrix`` (its geometry is validated as a whole), ``settings.location``
  (a latitude from one edit and a longitude from another is nowhere) and
  ``settings.driver`` (a tagged union: hub75 fields under a ddp name would be nonsense).
- presets, playlists and schedules entry by entry (``presets/<id>``); an entry is one value.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypedDict

from pydantic import BaseModel, ValidationError

from lightbox.protocol.library import Playlist, Preset, Schedule
from lightbox.protocol.settings import Settings
from lightbox.protocol.state import State
from lightbox.sync.document import (
    COLLECTIONS,
    TOMBSTONE,
    Change,
    Document,
    JsonValue,
    canonical,
    entry_key,
    split_entry_key,
)
from lightbox.sync.errors import SyncValidationError

STATE_FIELDS: Final = ("power", "brightness", "scene", "transition", "preset")
"""The fields of :class:`State` that sync; the others are runtime-only."""

SETTINGS_ATOMIC: Final = frozenset({"matrix"})
"""Settings sub-objects merged whole although they are plain models (see module doc)."""

COUPLED: Final = (frozenset({"state.scene", "state.preset"}),)
"""Keys that are always written together, so one edit's timestamp covers all of them."""


def _descend_paths(model: type[BaseModel], prefix: str = "") -> frozenset[str]:
    out: set[str] = set()
    for name, info in model.model_fields.items():
        path = f"{prefix}{name}"
        ann = info.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel) and path not in SETTINGS_ATOMIC:
            out.add(path)
            out |= _descend_paths(ann, f"{path}.")
    return frozenset(out)


SETTINGS_DESCEND: Final = _descend_paths(Settings)
"""Settings paths whose fields are separate keys (``output``, ``output.power``)."""


class SyncView(TypedDict):
    state: dict[str, JsonValue]
    settings: dict[str, JsonValue]
    presets: dict[str, JsonValue]
    playlists: dict[str, JsonValue]
    schedules: dict[str, JsonValue]


@dataclass(frozen=True, slots=True)
class SyncModels:
    """A view made models again (:func:`to_models`)."""

    state: State
    settings: Settings
    presets: tuple[Preset, ...]
    playlists: tuple[Playlist, ...]
    schedules: tuple[Schedule, ...]


def empty_view() -> SyncView:
    return {"state": {}, "settings": {}, "presets": {}, "playlists": {}, "schedules": {}}


def _dump(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json", by_alias=True)


def from_models(
    state: State,
    settings: Settings,
    presets: Iterable[Preset] = (),
    playlists: Iterable[Playlist] = (),
    schedules: Iterable[Schedule] = (),
) -> SyncView:
    """The synced part of the service's models, as plain dicts."""
    state_dump = _dump(state)
    return {
        "state": {name: state_dump[name] for name in STATE_FIELDS},
        "settings": _dump(settings),
        "presets": {p.id: _dump(p) for p in presets},
        "playlists": {p.id: _dump(p) for p in playlists},
        "schedules": {s.id: _dump(s) for s in schedules},
    }


def _flatten_settings(
    data: Mapping[str, JsonValue], prefix: str, out: dict[str, JsonValue]
) -> None:
    for name, value in data.items():
        path = f"{prefix}{name}"
        if path in SETTINGS_DESCEND and isinstance(value, dict):
            _flatten_settings(value, f"{path}.", out)
        else:
            out[f"settings.{path}"] = value


def flatten(view: SyncView) -> dict[str, JsonValue]:
    """A view as document keys → values."""
    out: dict[str, JsonValue] = {f"state.{k}": v for k, v in view["state"].items()}
    _flatten_settings(view["settings"], "", out)
    for collection in COLLECTIONS:
        items: Mapping[str, JsonValue] = view[collection]
        for item_id, body in items.items():
            out[entry_key(collection, item_id)] = body
    return out


def unflatten(values: Mapping[str, JsonValue]) -> SyncView:
    """Document keys → values as a view; keys this version does not know are left out."""
    view = empty_view()
    for key, value in values.items():
        entry = split_entry_key(key)
        if entry is not None:
            view[entry[0]][entry[1]] = value  # type: ignore[literal-required]
            continue
        section, _, path = key.partition(".")
        if section == "state" and path in STATE_FIELDS:
            view["state"][path] = value
        elif section == "settings" and path:
            *parents, leaf = path.split(".")
            if ".".join(parents) and ".".join(parents) not in SETTINGS_DESCEND:
                continue
            node = view["settings"]
            for parent in parents:
                node = node.setdefault(parent, {})
            node[leaf] = value
    return view


def document_view(doc: Document) -> SyncView:
    """What a document shows, as a view."""
    return unflatten(doc.values())


def changes(old: SyncView, new: SyncView) -> list[Change]:
    """The changes that take ``old`` to ``new``: changed keys with their new values.

    A collection entry missing from ``new`` is a deletion (``TOMBSTONE``); a field missing
    from ``new`` is left alone. Keys in :data:`COUPLED` groups are reported together.
    """
    before, after = flatten(old), flatten(new)
    changed: dict[str, JsonValue] = {}
    for key, value in after.items():
        if key not in before or canonical(before[key]) != canonical(value):
            changed[key] = value
    for key in before.keys() - after.keys():
        if split_entry_key(key) is not None:
            changed[key] = TOMBSTONE
    for group in COUPLED:
        if group & changed.keys():
            for key in group:
                if key not in changed and key in after:
                    changed[key] = after[key]
    return [Change(key, changed[key]) for key in sorted(changed)]


def _settings_key(loc: Sequence[int | str]) -> str:
    path = ""
    for part in loc:
        path = f"{path}.{part}" if path else str(part)
        if path not in SETTINGS_DESCEND:
            return f"settings.{path}"
    return f"settings.{path}" if path else "settings"


def _message(err: ValidationError) -> str:
    first = err.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    return f"{where + ': ' if where else ''}{first['msg']}"


def to_models(view: SyncView, *, runtime: State | None = None) -> SyncModels:
    """Validate a (merged) view as protocol models.

    ``runtime`` supplies the fields that do not sync (playlist cursor, schedule status,
    version); synced fields missing from the view keep ``runtime``'s values, missing settings
    fields their defaults. Raises :class:`SyncValidationError` naming every document key
    that does not validate: the caller must then keep its current models.
    """
    problems: dict[str, str] = {}
    base = runtime or State()
    state: State | None = None
    settings: Settings | None = None
    try:
        state = State.model_validate({**_dump(base), **view["state"]})
    except ValidationError as err:
        for e in err.errors():
            key = f"state.{e['loc'][0]}" if e["loc"] else "state"
            problems.setdefault(key, f"{e['msg']}")
    try:
        settings = Settings.model_validate(view["settings"])
    except ValidationError as err:
        for e in err.errors():
            problems.setdefault(_settings_key(e["loc"]), e["msg"])
    items: dict[str, list[Any]] = {c: [] for c in COLLECTIONS}
    kinds: dict[str, type[BaseModel]] = {
        "presets": Preset,
        "playlists": Playlist,
        "schedules": Schedule,
    }
    for collection, model in kinds.items():
        entries: Mapping[str, JsonValue] = view[collection]  # type: ignore[literal-required]
        for item_id, body in sorted(entries.items()):
            key = entry_key(collection, item_id)
            try:
                item = model.model_validate(body)
            except ValidationError as err:
                problems[key] = _message(err)
                continue
            if getattr(item, "id", None) != item_id:
                problems[key] = f"entry has id {getattr(item, 'id', None)!r}, not {item_id!r}"
                continue
            items[collection].append(item)
    if problems or state is None or settings is None:
        raise SyncValidationError(problems)
    return SyncModels(
        state,
        settings,
        tuple(items["presets"]),
        tuple(items["playlists"]),
        tuple(items["schedules"]),
    )
