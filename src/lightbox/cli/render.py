"""``lightbox render``: render a scene to PNG or GIF with no service running."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from lightbox.protocol import LightBoxError, Scene, from_validation_error
from lightbox.protocol.catalog import EFFECTS
from lightbox.render.frame import Frame, Size
from lightbox.render.media import DecodedMedia, MediaLimits, decode
from lightbox.render.scene import FrameInputs, Player, SceneContext

COMMON_KEYS = ("speed", "intensity", "palette", "colors")


class RenderError(Exception):
    """A user error in the render command's arguments; the message says what to fix."""


def _coerce(value: str) -> int | float | bool | str:
    lowered = value.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def parse_scene(spec: str, params: list[str]) -> Scene:
    """SCENE: an effect name, a JSON object, or a path to a JSON file."""
    data: dict[str, Any]
    text = spec.strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise RenderError(f"SCENE is not valid JSON: {err}") from err
    elif text.endswith(".json") or Path(text).is_file():
        try:
            data = json.loads(Path(text).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            raise RenderError(f"cannot read scene file {text}: {err}") from err
    elif text in {e.name for e in EFFECTS}:
        data = {"type": "effect", "effect": text}
    else:
        names = ", ".join(e.name for e in EFFECTS)
        raise RenderError(f"SCENE {text!r} is not an effect name ({names}), JSON or a file")
    for item in params:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise RenderError(f"--param {item!r} is not key=value")
        if key == "colors":
            data["colors"] = [c for c in value.split(",") if c]
        elif key in COMMON_KEYS or data.get("type") != "effect":
            data[key] = _coerce(value)
        else:
            data.setdefault("params", {})[key] = _coerce(value)
    try:
        scene: Scene = TypeAdapter(Scene).validate_python(data)
    except ValidationError as err:
        raise RenderError(from_validation_error(err, prefix="scene", data=data).message) from err
    return scene


def media_resolver(media_dir: Path, limits: MediaLimits) -> Any:
    cache: dict[str, DecodedMedia] = {}

    def resolve(media_id: str) -> DecodedMedia:
        if media_id not in cache:
            path = media_dir / media_id
            try:
                data = path.read_bytes()
            except OSError as err:
                raise RenderError(f"media {media_id!r}: cannot read {path}: {err}") from err
            cache[media_id] = decode(data, limits)
        return cache[media_id]

    return resolve


def render_frames(
    scene: Scene,
    size: Size,
    frames: int,
    fps: float,
    *,
    media_dir: Path = Path("."),
    seed: int = 0,
    start_wall: float = 0.0,
    timezone: str = "UTC",
) -> list[Frame]:
    """Render ``frames`` frames at ``fps``, with time starting at 0 (deterministic)."""
    ctx = SceneContext(
        size.width,
        size.height,
        timezone=timezone,
        media=media_resolver(media_dir, MediaLimits()),
        seed=seed,
    )
    try:
        player = Player(ctx, scene, 0.0, start_wall)
        out = []
        for i in range(frames):
            t = i / fps
            out.append(player.render(FrameInputs(now=t, wall_time=start_wall + t)))
    except LightBoxError as err:
        raise RenderError(err.message) from err
    except ValueError as err:  # media errors are ValueErrors with a clear message
        raise RenderError(str(err)) from err
    return out


def write_output(frames: list[Frame], path: Path, fps: float) -> None:
    from PIL import Image

    suffix = path.suffix.lower()
    if suffix == ".png":
        Image.fromarray(frames[-1], "RGB").save(path)
    elif suffix == ".gif":
        images = [Image.fromarray(f, "RGB") for f in frames]
        images[0].save(
            path,
            save_all=True,
            append_images=images[1:],
            duration=max(20, round(1000 / fps)),
            loop=0,
            optimize=False,
        )
    else:
        raise RenderError(f"output {path} must end in .png or .gif")
