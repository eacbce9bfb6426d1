"""Commands as the SDK sends them: JSON objects, each with an idempotency ``id``.

Commands stay plain JSON on the way out, so that an invalid one is judged by the device's
API (the same error, with the same ``code`` and ``field``, on the LAN and via the cloud)
rather than by a local copy of the rules.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

__all__ = ["CommandLike", "new_id", "prepare", "scene_from", "set_command"]

CommandLike = BaseModel | Mapping[str, Any] | str
"""A protocol command model, a mapping, or JSON text."""


def new_id() -> str:
    return uuid.uuid4().hex


def prepare(command: CommandLike) -> dict[str, Any]:
    """``command`` as a JSON object with an ``id`` (a new uuid when it has none).

    The id makes a command safe to send twice: a LightBox applies an id once and answers
    a repeat with the first result, whichever path each copy took.
    """
    body: Any
    if isinstance(command, BaseModel):
        body = command.model_dump(mode="json", by_alias=True, exclude_none=True)
    elif isinstance(command, str):
        body = json.loads(command)
    else:
        body = dict(command)
    if not isinstance(body, dict):
        raise ValueError('a command is a JSON object, like {"type": "identify"}')
    if body.get("id") is None:
        body["id"] = new_id()
    return body


def scene_from(
    *,
    effect: str | None = None,
    params: Mapping[str, Any] | None = None,
    text: str | None = None,
    color: str | None = None,
) -> dict[str, Any] | None:
    """A scene from the usual shortcuts: an effect (with params), text, or a solid colour."""
    if sum(x is not None for x in (effect, text)) > 1:
        raise ValueError("give an effect or a text, not both")
    if effect is not None:
        scene: dict[str, Any] = {"type": "effect", "effect": effect}
        common = {"speed", "intensity", "palette", "colors"}
        extra = {k: v for k, v in (params or {}).items() if k not in common}
        scene.update({k: v for k, v in (params or {}).items() if k in common})
        if extra:
            scene["params"] = extra
        if color is not None:
            scene["colors"] = [color]
        return scene
    if params:
        raise ValueError("parameters go with an effect (--effect NAME --param k=v)")
    if text is not None:
        scene = {"type": "text", "text": text}
        if color is not None:
            scene["color"] = color
        return scene
    if color is not None:
        return {"type": "solid", "color": color}
    return None


def set_command(
    *,
    power: bool | None = None,
    brightness: int | None = None,
    scene: Mapping[str, Any] | BaseModel | None = None,
    transition: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A ``set`` command with the fields given (at least one, or the device refuses it)."""
    body: dict[str, Any] = {"type": "set"}
    if power is not None:
        body["power"] = power
    if brightness is not None:
        body["brightness"] = brightness
    if scene is not None:
        body["scene"] = (
            scene.model_dump(mode="json", exclude_none=True)
            if isinstance(scene, BaseModel)
            else dict(scene)
        )
    if transition is not None:
        body["transition"] = dict(transition)
    return body
