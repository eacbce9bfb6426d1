"""The `lightbox` command without a service: render, effects, fonts, schema."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from lightbox.cli.main import app
from lightbox.protocol.catalog import EFFECTS

runner = CliRunner()


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_render_effect_to_png(tmp_path: Path) -> None:
    out = tmp_path / "plasma.png"
    code, text = invoke("render", "plasma", "--size", "32x16", "--frames", "3", "-o", str(out))
    assert code == 0, text
    frame = pixels(out)
    assert frame.shape == (16, 32, 3)
    assert frame.std() > 10  # an effect, not a blank frame


def test_render_gif_animation(tmp_path: Path) -> None:
    out = tmp_path / "fire.gif"
    code, text = invoke(
        "render",
        "fire",
        "--size",
        "16x8",
        "--frames",
        "12",
        "--fps",
        "20",
        "-o",
        str(out),
        "--param",
        "speed=200",
    )
    assert code == 0, text
    with Image.open(out) as image:
        assert image.n_frames == 12
        assert image.info["duration"] == 50


def test_render_json_scene_and_file(tmp_path: Path) -> None:
    scene = {"type": "solid", "color": "#00ff00"}
    out = tmp_path / "green.png"
    assert invoke("render", json.dumps(scene), "--size", "4x4", "-o", str(out))[0] == 0
    assert (pixels(out) == [0, 255, 0]).all()
    path = tmp_path / "scene.json"
    path.write_text(json.dumps({"type": "solid", "color": "#0000ff"}))
    assert invoke("render", str(path), "--size", "4x4", "-o", str(out))[0] == 0
    assert (pixels(out) == [0, 0, 255]).all()


def test_render_image_scene_from_media_dir(tmp_path: Path) -> None:
    buf = io.BytesIO()
    Image.new("RGB", (2, 2), (255, 0, 255)).save(buf, "PNG")
    (tmp_path / "dot.png").write_bytes(buf.getvalue())
    out = tmp_path / "out.png"
    scene = json.dumps({"type": "image", "media": "dot.png", "fit": "fill"})
    code, text = invoke(
        "render", scene, "--size", "8x8", "--media-dir", str(tmp_path), "-o", str(out)
    )
    assert code == 0, text
    assert (pixels(out) == [255, 0, 255]).all()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope"], "is not an effect name"),
        (["plasma", "--param", "speed=999"], "scene.speed"),
        (["plasma", "--param", "bogus=1"], "has no parameter 'bogus'"),
        (["plasma", "--size", "0x4"], "width and height"),
        (['{"type": "solid"'], "not valid JSON"),
        (['{"type": "image", "media": "missing.png"}'], "missing.png"),
    ],
)
def test_render_errors_are_clear(tmp_path: Path, args: list[str], message: str) -> None:
    code, text = invoke("render", *args, "-o", str(tmp_path / "x.png"))
    assert code == 2
    assert message in " ".join(text.split()), text


def test_render_refuses_unknown_output_type(tmp_path: Path) -> None:
    code, text = invoke("render", "plasma", "-o", str(tmp_path / "x.jpg"))
    assert code == 2
    assert ".png or .gif" in text


def test_effects_json_lists_every_effect() -> None:
    code, text = invoke("effects", "--json")
    assert code == 0
    data = json.loads(text)
    assert [e["name"] for e in data["effects"]] == [e.name for e in EFFECTS]
    assert len(data["effects"]) >= 20
    assert len(data["palettes"]) >= 10


def test_fonts_lists_the_wire_fonts() -> None:
    code, text = invoke("fonts")
    assert code == 0
    for name in ("5x7", "6x10", "8x16", "scalable"):
        assert name in text


def test_schema_is_json() -> None:
    code, text = invoke("schema")
    assert code == 0
    assert "Command" in json.loads(text)["$defs"]
