"""Media: decoding, limits and refusals, fitting, and frame timing. Fixtures are made here."""

from __future__ import annotations

import contextlib
import io
import struct
import zlib
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from lightbox.protocol.color import RGB
from lightbox.render.media import (
    DecodedMedia,
    GifRenderer,
    ImageRenderer,
    MediaError,
    MediaLimits,
    decode,
    fit,
    probe,
)
from tests.goldens import assert_golden

RED = (255, 0, 0)
GREEN = (0, 255, 0)
BLUE = (0, 0, 255)
GREY = RGB(10, 20, 30)


def _save(image: Image.Image, fmt: str, **kw: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **kw)
    return out.getvalue()


def _animation(fmt: str, colors: list[tuple[int, int, int]], **kw: Any) -> bytes:
    frames = [Image.new("RGB", (4, 4), c) for c in colors]
    extra = {"lossless": True} if fmt == "WEBP" else {}
    return _save(frames[0], fmt, save_all=True, append_images=frames[1:], **extra, **kw)


def _halves() -> Image.Image:
    """4x2: left half red, right half blue."""
    a = np.zeros((2, 4, 3), np.uint8)
    a[:, :2] = RED
    a[:, 2:] = BLUE
    return Image.fromarray(a)


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png_claiming(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims ``width x height`` (with a tiny, wrong IDAT)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 16)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def _refused(
    data: bytes, code: str, limits: MediaLimits | None = None, *, by_probe: bool = True
) -> MediaError:
    for fn in (probe, decode) if by_probe else (decode,):
        with pytest.raises(MediaError) as err:
            fn(data, limits)
        assert err.value.code == code, err.value
    return err.value


# -- decoding -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "kw", "exact"),
    [
        ("PNG", {}, True),
        ("JPEG", {"quality": 95}, False),
        ("WEBP", {"lossless": True}, True),
        ("GIF", {}, True),
    ],
)
def test_each_still_format_decodes(fmt: str, kw: dict[str, Any], exact: bool) -> None:
    data = _save(_halves().resize((16, 8), Image.Resampling.NEAREST), fmt, **kw)
    info = probe(data)
    assert (info.format, info.width, info.height) == (fmt.lower(), 16, 8)
    assert (info.frame_count, info.animated, info.loop, info.duration_ms) == (1, False, 1, 0)
    media = decode(data)
    assert len(media.frames) == 1
    frame = media.frames[0]
    assert frame.shape == (16 // 2, 16, 3)
    assert frame.dtype == np.uint8
    assert media.alphas is None
    tolerance = 0 if exact else 40
    assert np.abs(frame[4, 2].astype(int) - RED).max() <= tolerance
    assert np.abs(frame[4, 13].astype(int) - BLUE).max() <= tolerance


def test_png_alpha_is_kept() -> None:
    a = np.zeros((2, 2, 4), np.uint8)
    a[0, 0] = (255, 0, 0, 255)
    a[1, 1] = (0, 0, 255, 128)
    media = decode(_save(Image.fromarray(a, "RGBA"), "PNG"))
    assert media.alphas is not None
    assert media.alphas[0].tolist() == [[255, 0], [0, 128]]
    assert media.frames[0][0, 0].tolist() == list(RED)


def test_16_bit_greyscale_png_is_scaled_not_clipped() -> None:
    a = np.array([[0, 32768, 65535]], np.uint16)
    media = decode(_save(Image.fromarray(a), "PNG"))
    assert media.frames[0][0, :, 0].tolist() == [0, 128, 255]


def test_jpeg_exif_orientation_applied() -> None:
    image = Image.new("RGB", (8, 4), RED)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    data = _save(image, "JPEG", exif=exif.tobytes())
    info = probe(data)
    assert (info.width, info.height) == (4, 8)
    assert decode(data).frames[0].shape == (8, 4, 3)


@pytest.mark.parametrize("fmt", ["GIF", "PNG", "WEBP"])
def test_animations_decode(fmt: str) -> None:
    data = _animation(fmt, [RED, GREEN, BLUE], duration=[100, 200, 300], loop=0)
    info = probe(data)
    assert (info.frame_count, info.animated, info.loop, info.duration_ms) == (3, True, 0, 600)
    media = decode(data)
    assert [f[0, 0].tolist() for f in media.frames] == [list(RED), list(GREEN), list(BLUE)]
    assert media.durations_ms == (100, 200, 300)


def test_gif_loop_counts_follow_browsers() -> None:
    assert decode(_animation("GIF", [RED, GREEN], duration=100)).loop == 1  # no NETSCAPE ext
    assert decode(_animation("GIF", [RED, GREEN], duration=100, loop=0)).loop == 0
    assert decode(_animation("GIF", [RED, GREEN], duration=100, loop=2)).loop == 3
    assert decode(_animation("WEBP", [RED, GREEN], duration=100, loop=2)).loop == 2


def test_short_gif_delays_play_as_100ms() -> None:
    media = decode(_animation("GIF", [RED, GREEN, BLUE], duration=[0, 10, 20], loop=0))
    assert media.durations_ms == (100, 100, 20)


def test_gif_partial_frames_and_transparency_are_composited() -> None:
    # Frame 1 differs from frame 0 in one pixel: Pillow writes it as a 1x1 partial frame.
    f0 = np.zeros((4, 4, 3), np.uint8)
    f0[:] = RED
    f1 = f0.copy()
    f1[2, 1] = BLUE
    data = _save(
        Image.fromarray(f0),
        "GIF",
        save_all=True,
        append_images=[Image.fromarray(f1)],
        duration=100,
        loop=0,
    )
    with Image.open(io.BytesIO(data)) as im:
        im.seek(1)
        assert im.tile[0][1] != (0, 0, 4, 4), "fixture should hold a partial frame"
    media = decode(data)
    assert np.array_equal(media.frames[0], f0)
    assert np.array_equal(media.frames[1], f1)


def test_gif_disposal_to_background_clears_previous_frame() -> None:
    a0 = np.zeros((4, 4, 4), np.uint8)
    a0[0, 0] = (255, 0, 0, 255)
    a1 = np.zeros((4, 4, 4), np.uint8)
    a1[3, 3] = (0, 255, 0, 255)
    frames = [Image.fromarray(a, "RGBA") for a in (a0, a1)]
    data = _save(
        frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, disposal=2
    )
    media = decode(data)
    assert media.alphas is not None
    assert media.alphas[0][0, 0] == 255
    assert media.alphas[0][3, 3] == 0
    assert media.alphas[1][0, 0] == 0, "disposal 2 should clear frame 0's pixel"
    assert media.alphas[1][3, 3] == 255
    assert media.frames[1][3, 3].tolist() == list(GREEN)
    # Without disposal the first frame's pixel stays under the second.
    kept = decode(
        _save(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, disposal=1)
    )
    assert kept.alphas is not None
    assert kept.alphas[1][0, 0] == 255
    assert kept.alphas[1][3, 3] == 255


# -- refusals -------------------------------------------------------------------------------


def test_refuses_too_many_bytes() -> None:
    data = _save(Image.new("RGB", (64, 64), RED), "PNG")
    err = _refused(data, "media_too_large", MediaLimits(max_bytes=len(data) - 1))
    assert str(len(data) - 1) in err.message
    assert isinstance(err, ValueError)


@pytest.mark.parametrize("size", [(100_000, 100_000), (10_000, 10_000), (5_000, 5_000)])
def test_refuses_too_many_pixels_from_the_header(size: tuple[int, int]) -> None:
    err = _refused(_png_claiming(*size), "media_too_many_pixels")
    assert "pixels" in err.message


def test_refuses_frames_beyond_limits() -> None:
    data = _animation("GIF", [(i, 0, 0) for i in range(12)], duration=100)
    err = _refused(data, "media_too_many_frames", MediaLimits(max_frames=10))
    assert "12 frames" in err.message
    _refused(data, "media_too_many_pixels", MediaLimits(max_total_pixels=4 * 4 * 11))
    assert decode(data, MediaLimits(max_frames=12)).info.frame_count == 12


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "WEBP"])
def test_refuses_truncated_files(fmt: str) -> None:
    noise = np.random.default_rng(1).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    data = _save(Image.fromarray(noise), fmt)
    _refused(data[: len(data) // 2], "media_corrupt", by_probe=False)  # header is intact
    _refused(data[:20], "media_corrupt")


def test_refuses_garbage_unknown_formats_and_empty() -> None:
    _refused(bytes(range(256)) * 4, "media_unsupported_format")
    _refused(_save(Image.new("RGB", (4, 4)), "BMP"), "media_unsupported_format")
    _refused(_save(Image.new("RGB", (4, 4)), "TIFF"), "media_unsupported_format")
    _refused(b"", "media_corrupt")
    _refused(_png_claiming(0, 0), "media_corrupt")
    _refused(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "media_corrupt")
    _refused(b"GIF89a" + b"\xff" * 40, "media_corrupt")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    prefix=st.sampled_from([b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF89a", b"RIFF"]),
    body=st.binary(max_size=300),
)
def test_random_bytes_only_ever_raise_media_error(prefix: bytes, body: bytes) -> None:
    data = prefix + (body[:4] + b"WEBP" + body[4:] if prefix == b"RIFF" else body)
    with contextlib.suppress(MediaError):
        decode(data, MediaLimits(max_pixels=256 * 256))


@settings(max_examples=60, deadline=None)
@given(cut=st.integers(min_value=0, max_value=2000), flip=st.integers(0, 255))
def test_mutated_real_files_only_raise_media_error(cut: int, flip: int) -> None:
    data = bytearray(_animation("GIF", [RED, GREEN, BLUE], duration=100, loop=0))
    if cut < len(data):
        data[cut] ^= flip
    with contextlib.suppress(MediaError):
        decode(bytes(data))


# -- fitting --------------------------------------------------------------------------------


def _still(image: Image.Image) -> DecodedMedia:
    return decode(_save(image, "PNG"))


def test_fit_contain_letterboxes_with_nearest_upscale() -> None:
    fitted = fit(_still(_halves()), 8, 8, "contain", GREY)
    assert fitted.frames.shape == (1, 8, 8, 3)
    assert fitted.alphas is None
    f = fitted.frames[0]
    assert (f[:2] == GREY).all()
    assert (f[6:] == GREY).all()
    assert (f[2:6, :4] == RED).all()
    assert (f[2:6, 4:] == BLUE).all()


def test_fit_cover_crops_centre() -> None:
    f = fit(_still(_halves()), 8, 8, "cover").frames[0]
    assert (f[:, :4] == RED).all()
    assert (f[:, 4:] == BLUE).all()
    wide = np.zeros((2, 8, 3), np.uint8)
    wide[:, :2] = GREEN
    wide[:, 2:6] = RED
    wide[:, 6:] = BLUE
    f = fit(_still(Image.fromarray(wide)), 4, 2, "cover").frames[0]
    assert (f == RED).all()


@pytest.mark.parametrize("mode", ["fill", "stretch"])
def test_fit_fill_stretches(mode: str) -> None:
    f = fit(_still(_halves()), 8, 8, mode).frames[0]  # type: ignore[arg-type]
    assert (f[:, :4] == RED).all()
    assert (f[:, 4:] == BLUE).all()


def test_fit_center_places_without_scaling() -> None:
    f = fit(_still(_halves()), 8, 8, "center", GREY).frames[0]
    assert (f[3:5, 2:4] == RED).all()
    assert (f[3:5, 4:6] == BLUE).all()
    assert (f[:3] == GREY).all()
    assert (f[:, :2] == GREY).all()
    big = np.arange(100, dtype=np.uint8).reshape(10, 10)
    f = fit(_still(Image.fromarray(big)), 4, 4, "center").frames[0]
    assert f[:, :, 0].tolist() == big[3:7, 3:7].tolist()


def test_fit_downscale_is_filtered() -> None:
    checker = ((np.indices((64, 64)).sum(axis=0) % 2) * 255).astype(np.uint8)
    f = fit(_still(Image.fromarray(checker)), 8, 8, "fill").frames[0]
    assert 100 < int(f[4, 4, 0]) < 155, "a good filter averages a fine checkerboard to grey"


def test_fit_transparency_over_background_or_kept() -> None:
    a = np.zeros((2, 2, 4), np.uint8)
    a[0, 0] = (255, 0, 0, 255)
    a[0, 1] = (255, 255, 255, 0)
    a[1, 0] = (0, 0, 255, 128)
    media = _still(Image.fromarray(a, "RGBA"))
    over = fit(media, 2, 2, "fill", RGB(0, 0, 0)).frames[0]
    assert over[0, 0].tolist() == list(RED)
    assert over[0, 1].tolist() == [0, 0, 0]
    assert over[1, 0].tolist() == [0, 0, 128]
    kept = fit(media, 4, 2, "contain", None)
    assert kept.alphas is not None
    assert kept.alphas[0].tolist() == [[0, 255, 0, 0], [0, 128, 0, 0]]


def test_fit_golden() -> None:
    yy, xx = np.mgrid[0:24, 0:40]
    grad = np.dstack([xx * 6, yy * 10, 255 - xx * 6]).astype(np.uint8)
    media = _still(Image.fromarray(grad))
    for mode in ("contain", "cover", "fill", "center"):
        frame = fit(media, 32, 32, mode, GREY).frames[0]  # type: ignore[arg-type]
        assert_golden(frame, f"media/fit_{mode}", tolerance=2)


# -- renderers ------------------------------------------------------------------------------


def test_gif_renderer_picks_frames_by_time() -> None:
    media = decode(_animation("GIF", [RED, GREEN, BLUE], duration=[100, 200, 300], loop=0))
    r = GifRenderer(media, 4, 4, "fill")
    expected = {0.0: 0, 0.099: 0, 0.1: 1, 0.299: 1, 0.3: 2, 0.599: 2, 0.6: 0, 6.35: 2, -1.0: 0}
    for t, index in expected.items():
        assert r.frame_index(t) == index, t
    assert r.render(0.35).rgb[0, 0].tolist() == list(BLUE)
    assert r.duration() == pytest.approx(0.6)
    assert r.total_duration() is None
    assert not r.finished(1e6)
    fast = GifRenderer(media, 4, 4, "fill", speed=2.0)
    assert fast.frame_index(0.05) == 1
    assert fast.duration() == pytest.approx(0.3)


def test_gif_renderer_honours_loop_count() -> None:
    media = decode(_animation("GIF", [RED, GREEN, BLUE], duration=100, loop=1))  # 2 plays
    r = GifRenderer(media, 4, 4)
    assert r.loop == 2
    assert r.total_duration() == pytest.approx(0.6)
    assert r.frame_index(0.35) == 0  # second play
    assert not r.finished(0.599)
    assert r.finished(0.6)
    assert r.frame_index(0.6) == 2
    assert r.frame_index(100.0) == 2
    once = GifRenderer(media, 4, 4, loop=1)
    assert once.finished(0.3)
    assert once.frame_index(0.35) == 2
    forever = GifRenderer(media, 4, 4, loop=0)
    assert not forever.finished(1e6)


def test_image_renderer() -> None:
    r = ImageRenderer(_still(_halves()), 8, 8, "contain", GREY)
    layer = r.render(123.0)
    assert layer.alpha is None
    assert layer.rgb.shape == (8, 8, 3)
    assert layer.rgb[3, 1].tolist() == list(RED)
    layer.rgb[:] = 0  # owned by the caller
    assert r.render(0).rgb[3, 1].tolist() == list(RED)
    assert not r.finished(1e9)
    assert r.duration() is None
    clear = ImageRenderer(_still(_halves()), 8, 8, "contain", None).render(0)
    assert clear.alpha is not None
    assert clear.alpha[0, 0] == 0
    assert clear.alpha[3, 3] == 255
