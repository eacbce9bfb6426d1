"""Images and animations: bytes in, numpy frames out, fitted to the canvas once.

Pure: ``probe`` and ``decode`` take the file's bytes (no paths, no I/O); the renderers take
the time ``t`` as an argument. Untrusted input is refused before expensive work: the byte
size first, then the format (sniffed from the magic bytes: PNG, JPEG, GIF, WebP only), then
the pixel size from the header, then the frame count and the total decoded pixels; only
then are pixels decoded.

Errors: one type, :class:`MediaError` (a ``ValueError``) whose ``code`` is one of
``media_too_large``, ``media_too_many_pixels``, ``media_too_many_frames``,
``media_unsupported_format``, ``media_corrupt`` (the wire error codes of the same names).

Animation timing follows browsers: a GIF frame delay under 20 ms plays as 100 ms. The play
count is ``loop`` (0 = forever); a GIF's NETSCAPE repeat count ``N`` means ``N + 1`` plays,
a GIF without that extension plays once, WebP and APNG give the play count directly.
"""

from __future__ import annotations

import io
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageOps

from lightbox.protocol.color import BLACK, RGB
from lightbox.render.frame import Frame, Layer, Mask

__all__ = [
    "DecodedMedia",
    "FitMode",
    "FittedMedia",
    "GifRenderer",
    "ImageRenderer",
    "MediaError",
    "MediaFormat",
    "MediaInfo",
    "MediaLimits",
    "decode",
    "fit",
    "probe",
]

MediaErrorCode = Literal[
    "media_too_large",
    "media_too_many_pixels",
    "media_too_many_frames",
    "media_unsupported_format",
    "media_corrupt",
]
MediaFormat = Literal["png", "jpeg", "gif", "webp"]
FitMode = Literal["contain", "cover", "fill", "stretch", "center"]

MIN_FRAME_MS = 20
"""Frame delays below this play as :data:`SHORT_FRAME_MS` (as browsers do for GIFs)."""
SHORT_FRAME_MS = 100

_PILLOW_FORMAT: dict[MediaFormat, str] = {
    "png": "PNG",
    "jpeg": "JPEG",
    "gif": "GIF",
    "webp": "WEBP",
}
_ORIENTATION = 0x0112


class MediaError(ValueError):
    """Media refused; ``code`` is a stable wire error code, the message says what to do."""

    def __init__(self, code: MediaErrorCode, message: str) -> None:
        super().__init__(message)
        self.code: MediaErrorCode = code
        self.message = message


@dataclass(frozen=True, slots=True)
class MediaLimits:
    """Hard limits checked before decoding."""

    max_bytes: int = 8 * 1024 * 1024
    max_pixels: int = 4096 * 4096
    """Largest width x height of one frame."""
    max_frames: int = 1000
    max_total_pixels: int = 1 << 25
    """Largest width x height x frames decoded in all (about 100 MB of RGB)."""

    def __post_init__(self) -> None:
        for name in ("max_bytes", "max_pixels", "max_frames", "max_total_pixels"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"MediaLimits.{name} must be a positive integer")


@dataclass(frozen=True, slots=True)
class MediaInfo:
    """What the header says (``width`` x ``height`` after EXIF orientation)."""

    format: MediaFormat
    width: int
    height: int
    frame_count: int
    animated: bool
    loop: int
    """Plays: 0 = forever, 1 for a still."""
    duration_ms: int
    """One play of all frames (0 for a still)."""


@dataclass(frozen=True, slots=True)
class DecodedMedia:
    """Decoded frames at the image's own size, fully composited (GIF disposal applied)."""

    info: MediaInfo
    frames: tuple[Frame, ...]
    """``H x W x 3`` uint8 each."""
    alphas: tuple[Mask, ...] | None
    """``H x W`` uint8 each, or ``None`` if every pixel of every frame is opaque."""
    durations_ms: tuple[int, ...]
    loop: int
    """Plays: 0 = forever."""


@dataclass(frozen=True, slots=True)
class FittedMedia:
    """Frames scaled and placed on the canvas once: rendering a frame is a lookup."""

    frames: npt.NDArray[np.uint8]
    """``N x H x W x 3``."""
    alphas: npt.NDArray[np.uint8] | None
    """``N x H x W``, or ``None`` when opaque (a background was given or no alpha)."""


# -- probing --------------------------------------------------------------------------------


def _sniff(data: bytes) -> MediaFormat:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    raise MediaError(
        "media_unsupported_format",
        "unsupported or unknown file format; upload a PNG, JPEG, GIF or WebP image",
    )


def _corrupt(err: BaseException) -> MediaError:
    return MediaError(
        "media_corrupt",
        f"the file is damaged or not a valid image ({type(err).__name__}: {err}); "
        "re-export it and upload again",
    )


def _too_many_pixels(width: int, height: int, limits: MediaLimits) -> MediaError:
    return MediaError(
        "media_too_many_pixels",
        f"image is {width}x{height} = {width * height} pixels, over the limit of "
        f"{limits.max_pixels}; scale it down (e.g. to the matrix size) and upload again",
    )


def _open(data: bytes, limits: MediaLimits) -> tuple[Image.Image, MediaFormat]:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError("media data must be bytes")
    if len(data) == 0:
        raise MediaError("media_corrupt", "the file is empty; upload an image file")
    if len(data) > limits.max_bytes:
        raise MediaError(
            "media_too_large",
            f"file is {len(data)} bytes, over the limit of {limits.max_bytes} bytes; "
            "use a smaller or more compressed image",
        )
    fmt = _sniff(bytes(data[:16]))
    try:
        # Reads only the header. Pillow's own bomb check warns or raises on huge sizes:
        # turn the warning into an error so both refuse here, before any decoding.
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=[_PILLOW_FORMAT[fmt]])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise MediaError(
            "media_too_many_pixels",
            f"image is far too large ({err}); the limit is {limits.max_pixels} pixels",
        ) from err
    except Exception as err:  # Pillow raises many types for bad headers
        raise _corrupt(err) from err
    width, height = image.size
    if width < 1 or height < 1:
        raise MediaError("media_corrupt", f"image has a zero size ({width}x{height})")
    if width * height > limits.max_pixels:
        raise _too_many_pixels(width, height, limits)
    return image, fmt


def _frame_count(image: Image.Image, limits: MediaLimits) -> int:
    count = int(getattr(image, "n_frames", 1))
    width, height = image.size
    if count > limits.max_frames:
        raise MediaError(
            "media_too_many_frames",
            f"animation has {count} frames, over the limit of {limits.max_frames}; "
            "use fewer frames",
        )
    if width * height * count > limits.max_total_pixels:
        raise MediaError(
            "media_too_many_pixels",
            f"{count} frames of {width}x{height} are {width * height * count} pixels in all, "
            f"over the limit of {limits.max_total_pixels}; use fewer frames or a smaller size",
        )
    return count


def _loop(image: Image.Image, fmt: MediaFormat, count: int) -> int:
    if count <= 1:
        return 1
    raw = image.info.get("loop")
    if fmt == "gif":
        # NETSCAPE2.0 repeat count N: N + 1 plays (0 = forever); no extension: once.
        return 1 if raw is None else (0 if int(raw) == 0 else int(raw) + 1)
    return 0 if raw is None else max(int(raw), 0)


def _clamp_ms(value: object) -> int:
    try:
        ms = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        ms = 0.0
    if not math.isfinite(ms) or ms < MIN_FRAME_MS:
        return SHORT_FRAME_MS
    return min(round(ms), 3_600_000)


def _oriented_size(image: Image.Image) -> tuple[int, int]:
    width, height = image.size
    if image.format in ("JPEG", "WEBP", "PNG"):
        orientation = image.getexif().get(_ORIENTATION, 1)
        if orientation in (5, 6, 7, 8):
            return height, width
    return width, height


def probe(data: bytes, limits: MediaLimits | None = None) -> MediaInfo:
    """Describe the media from its headers, refusing what the limits do not allow.

    Reads frame headers (for the count and the durations) but decodes no pixels, except
    for animated WebP, whose frame durations Pillow gives only once a frame is decoded.
    A file that passes ``probe`` may still be refused by ``decode`` (truncated pixel data).
    """
    limits = limits or MediaLimits()
    image, fmt = _open(data, limits)
    with image:
        try:
            count = _frame_count(image, limits)
            durations = []
            if count > 1:
                for i in range(count):
                    image.seek(i)
                    if fmt == "webp":
                        image.load()  # WebP gives a frame's duration only once decoded
                    durations.append(_clamp_ms(image.info.get("duration")))
                image.seek(0)
            width, height = _oriented_size(image)
            loop = _loop(image, fmt, count)
        except MediaError:
            raise
        except Exception as err:
            raise _corrupt(err) from err
    return MediaInfo(
        format=fmt,
        width=width,
        height=height,
        frame_count=count,
        animated=count > 1,
        loop=loop,
        duration_ms=sum(durations),
    )


# -- decoding -------------------------------------------------------------------------------


def _to_rgba(frame: Image.Image) -> Image.Image:
    if frame.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        # 16-bit greyscale / float: scale to 8 bits instead of clipping.
        frame = frame.convert("I").point(lambda v: v * (1 / 256)).convert("L")
    return frame.convert("RGBA")


def decode(data: bytes, limits: MediaLimits | None = None) -> DecodedMedia:
    """Decode every frame to RGB (+ alpha), composited as the format says (GIF disposal,
    transparency and partial frames are handled by Pillow's frame compositing)."""
    limits = limits or MediaLimits()
    image, fmt = _open(data, limits)
    with image:
        try:
            count = _frame_count(image, limits)
            loop = _loop(image, fmt, count)
            rgbas: list[npt.NDArray[np.uint8]] = []
            durations: list[int] = []
            for i in range(count):
                if count > 1:
                    image.seek(i)
                frame = _to_rgba(image)
                if count > 1:
                    # After the frame is loaded: WebP sets the duration only then.
                    durations.append(_clamp_ms(image.info.get("duration")))
                if count == 1:
                    frame = ImageOps.exif_transpose(frame) if fmt != "gif" else frame
                if frame.size != image.size and count > 1:
                    raise ValueError(f"frame {i} is {frame.size}, not {image.size}")
                rgbas.append(np.asarray(frame, dtype=np.uint8))
        except MediaError:
            raise
        except Exception as err:
            raise _corrupt(err) from err
    height, width = rgbas[0].shape[:2]
    frames = tuple(np.ascontiguousarray(a[:, :, :3]) for a in rgbas)
    opaque = all(bool((a[:, :, 3] == 255).all()) for a in rgbas)
    alphas = None if opaque else tuple(np.ascontiguousarray(a[:, :, 3]) for a in rgbas)
    info = MediaInfo(
        format=fmt,
        width=int(width),
        height=int(height),
        frame_count=count,
        animated=count > 1,
        loop=loop,
        duration_ms=sum(durations),
    )
    return DecodedMedia(
        info=info,
        frames=frames,
        alphas=alphas,
        durations_ms=tuple(durations) if durations else (0,),
        loop=loop,
    )


# -- fitting --------------------------------------------------------------------------------


def _resample(src: tuple[int, int], dst: tuple[int, int]) -> Image.Resampling:
    """NEAREST for whole-number upscales (crisp pixel art), LANCZOS otherwise."""
    (sw, sh), (dw, dh) = src, dst
    if dw >= sw and dh >= sh and dw % sw == 0 and dh % sh == 0:
        return Image.Resampling.NEAREST
    if dw <= sw and dh <= sh:
        return Image.Resampling.LANCZOS
    return Image.Resampling.BICUBIC


def _paste_box(src: int, dst: int) -> tuple[int, int, int]:
    """Centre ``src`` pixels in ``dst``, cropping: ``(dst_start, src_start, length)``."""
    offset = (dst - src) // 2
    if offset >= 0:
        return offset, 0, src
    return 0, -offset, dst


def _fit_one(frame: Image.Image, width: int, height: int, mode: str) -> npt.NDArray[np.uint8]:
    w, h = frame.size
    out = np.zeros((height, width, 4), dtype=np.uint8)
    if mode in ("fill", "stretch"):
        scaled = frame.resize((width, height), _resample((w, h), (width, height)))
        return np.asarray(scaled, dtype=np.uint8).copy()
    if mode == "cover":
        scale = max(width / w, height / h)
        bw, bh = width / scale, height / scale
        box = ((w - bw) / 2, (h - bh) / 2, (w + bw) / 2, (h + bh) / 2)
        whole = abs(scale - round(scale)) < 1e-9 and scale >= 1
        resample = Image.Resampling.NEAREST if whole else _resample((w, h), (width, height))
        if resample == Image.Resampling.BICUBIC and scale < 1:
            resample = Image.Resampling.LANCZOS
        scaled = frame.resize((width, height), resample, box=box)
        return np.asarray(scaled, dtype=np.uint8).copy()
    if mode == "contain":
        scale = min(width / w, height / h)
        size = (
            min(max(1, round(w * scale)), width),
            min(max(1, round(h * scale)), height),
        )
        frame = frame.resize(size, _resample((w, h), size))
    # contain (already scaled) and center: paste centred, cropping what overflows.
    pixels = np.asarray(frame, dtype=np.uint8)
    x, sx, n = _paste_box(pixels.shape[1], width)
    y, sy, m = _paste_box(pixels.shape[0], height)
    out[y : y + m, x : x + n] = pixels[sy : sy + m, sx : sx + n]
    return out


def fit(
    media: DecodedMedia,
    width: int,
    height: int,
    mode: FitMode = "contain",
    background: RGB | None = BLACK,
) -> FittedMedia:
    """Scale and place every frame on a ``width x height`` canvas, once.

    ``contain``: fit inside, keeping the aspect ratio, the rest is background;
    ``cover``: fill the canvas, keeping the aspect ratio, cropping the centre;
    ``fill`` (or ``stretch``): stretch to exactly the canvas;
    ``center``: no scaling, centred, cropped.
    With a ``background`` transparency is composited over it and the result is opaque;
    with ``None`` the alpha is kept (letterbox areas transparent).
    """
    if mode not in ("contain", "cover", "fill", "stretch", "center"):
        raise ValueError(f"fit mode {mode!r}: use contain, cover, fill, stretch or center")
    if not (1 <= width <= 4096 and 1 <= height <= 4096):
        raise ValueError("canvas width and height must be 1..4096")
    alphas: Sequence[Mask | None] = media.alphas or [None] * len(media.frames)
    layers = []
    for rgb, alpha in zip(media.frames, alphas, strict=True):
        a = np.full(rgb.shape[:2], 255, np.uint8) if alpha is None else alpha
        rgba = Image.fromarray(np.dstack([rgb, a]), "RGBA")
        layers.append(_fit_one(rgba, width, height, mode))
    stack = np.stack(layers)  # N x H x W x 4
    rgb_out = stack[..., :3]
    alpha_out = stack[..., 3]
    if background is None:
        return FittedMedia(frames=np.ascontiguousarray(rgb_out), alphas=alpha_out.copy())
    a16 = alpha_out.astype(np.uint16)[..., None]
    bg = np.array(background, dtype=np.uint16)
    blended = (rgb_out.astype(np.uint16) * a16 + bg * (255 - a16) + 127) // 255
    return FittedMedia(frames=blended.astype(np.uint8), alphas=None)


# -- renderers ------------------------------------------------------------------------------


class ImageRenderer:
    """A still image scene: the first frame, fitted once."""

    def __init__(
        self,
        media: DecodedMedia,
        width: int,
        height: int,
        fit_mode: FitMode = "contain",
        background: RGB | None = BLACK,
    ) -> None:
        first = DecodedMedia(
            info=media.info,
            frames=media.frames[:1],
            alphas=None if media.alphas is None else media.alphas[:1],
            durations_ms=media.durations_ms[:1],
            loop=media.loop,
        )
        self.fitted = fit(first, width, height, fit_mode, background)

    def render(self, t: float) -> Layer:
        alphas = self.fitted.alphas
        return Layer(
            rgb=self.fitted.frames[0].copy(), alpha=None if alphas is None else alphas[0].copy()
        )

    def duration(self) -> float | None:
        return None

    def finished(self, t: float) -> bool:
        return False


class GifRenderer:
    """An animation scene: picks the frame for ``t`` from the cumulative frame times.

    ``loop``: plays, 0 = forever, ``None`` = as the file says. ``speed`` scales the playback
    rate (2.0 plays twice as fast). After the last play the last frame stays on screen.
    """

    def __init__(
        self,
        media: DecodedMedia,
        width: int,
        height: int,
        fit_mode: FitMode = "contain",
        background: RGB | None = BLACK,
        loop: int | None = None,
        speed: float = 1.0,
    ) -> None:
        if not (math.isfinite(speed) and 0 < speed <= 100):
            raise ValueError("speed must be more than 0 and at most 100")
        if loop is not None and (isinstance(loop, bool) or loop < 0):
            raise ValueError("loop must be >= 0 (0 = forever) or None (as the file says)")
        self.fitted = fit(media, width, height, fit_mode, background)
        self.loop = media.loop if loop is None else loop
        self.speed = float(speed)
        durations = np.array(media.durations_ms, dtype=np.int64)
        self._ends_ms = np.cumsum(durations)  # end time of each frame, ms of file time
        self._period_ms = int(self._ends_ms[-1])

    def duration(self) -> float:
        """Seconds for one play at this speed (0 for a still)."""
        return self._period_ms / 1000 / self.speed

    def total_duration(self) -> float | None:
        """Seconds for all plays; ``None`` if it loops forever (or is a still)."""
        if self.loop == 0 or self._period_ms == 0:
            return None
        return self.loop * self.duration()

    def finished(self, t: float) -> bool:
        total = self.total_duration()
        return total is not None and t >= total

    def frame_index(self, t: float) -> int:
        """Index of the frame shown at ``t`` seconds."""
        n = len(self.fitted.frames)
        if n == 1 or self._period_ms == 0 or math.isnan(t) or t <= 0:
            return 0
        if self.finished(t):
            return n - 1
        if math.isinf(t):
            return 0
        ms = (t * 1000 * self.speed + 1e-6) % self._period_ms
        return min(int(np.searchsorted(self._ends_ms, ms, side="right")), n - 1)

    def render(self, t: float) -> Layer:
        i = self.frame_index(t)
        alphas = self.fitted.alphas
        return Layer(
            rgb=self.fitted.frames[i].copy(), alpha=None if alphas is None else alphas[i].copy()
        )
