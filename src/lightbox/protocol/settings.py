"""Device settings: matrix geometry, the output stage, the driver, and identity.

Geometry vocabulary (used by the output stage, documented in docs/protocol.md):

- ``width`` x ``height`` is the *canvas*: what a viewer sees, what scenes are rendered at.
- ``rotation`` and ``flip_x``/``flip_y`` describe how the physical assembly is mounted
  relative to the canvas. With rotation 90 or 270 the physical assembly is ``height`` wide.
- The physical assembly is a grid of identical panels (``panel_width`` x ``panel_height``),
  ``width/panel_width`` across. Panels are chained starting at ``chain_start`` corner, row by
  row (``chain_order="rows"``) or column by column; with ``chain_serpentine`` every other
  row (or column) of panels runs back the other way and is mounted upside down, the usual
  way to save cable.
- Inside a panel of a WS281x grid the LEDs are one strip; ``serpentine`` says every other
  row of LEDs runs back the other way. HUB75 panels are addressed by (x, y), so
  ``serpentine`` is ignored for them.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from lightbox.protocol.base import WireModel

Corner = Literal["top_left", "top_right", "bottom_left", "bottom_right"]
ColorOrder = Literal["RGB", "RBG", "GRB", "GBR", "BRG", "BGR"]


class MatrixSettings(WireModel):
    """The geometry of the LED matrix."""

    width: int = Field(default=64, ge=1, le=1024, description="Canvas width in pixels.")
    height: int = Field(default=32, ge=1, le=1024, description="Canvas height in pixels.")
    panel_width: int | None = Field(
        default=None, ge=1, le=1024, description="Width of one panel; default: the whole width."
    )
    panel_height: int | None = Field(
        default=None, ge=1, le=1024, description="Height of one panel; default: the whole height."
    )
    chain_start: Corner = Field(default="top_left", description="Corner of the first panel.")
    chain_order: Literal["rows", "columns"] = "rows"
    chain_serpentine: bool = Field(
        default=False, description="Alternate panel rows run back and are mounted upside down."
    )
    serpentine: bool = Field(
        default=False, description="LED strips inside a panel zig-zag (WS281x grids)."
    )
    strip_start: Corner = Field(default="top_left", description="Corner of a panel's first LED.")
    rotation: Literal[0, 90, 180, 270] = 0
    flip_x: bool = False
    flip_y: bool = False

    @model_validator(mode="after")
    def _check_panels(self) -> MatrixSettings:
        if self.width * self.height > 262_144:
            raise ValueError(
                f"matrix {self.width}x{self.height} has more than 262144 pixels (512x512)"
            )
        phys_w, phys_h = self.physical_size
        pw, ph = self.panel_size
        if phys_w % pw or phys_h % ph:
            raise ValueError(
                f"panels of {pw}x{ph} do not tile the {phys_w}x{phys_h} physical matrix: "
                "its width and height must be multiples of the panel size"
            )
        return self

    @property
    def physical_size(self) -> tuple[int, int]:
        """``(width, height)`` of the physical assembly, after rotation."""
        if self.rotation in (90, 270):
            return self.height, self.width
        return self.width, self.height

    @property
    def panel_size(self) -> tuple[int, int]:
        phys_w, phys_h = self.physical_size
        return self.panel_width or phys_w, self.panel_height or phys_h

    @property
    def pixel_count(self) -> int:
        return self.width * self.height


class PowerSettings(WireModel):
    """The power limiter, after WLED's automatic brightness limiter."""

    budget_ma: int = Field(
        default=0,
        ge=0,
        le=1_000_000,
        description="Supply budget for the LEDs in mA; 0 turns the limiter off.",
    )
    ma_per_channel: float = Field(
        default=20.0,
        gt=0,
        le=200,
        description="Current of one colour channel at full duty (WS2812: about 20 mA).",
    )
    idle_ma_per_led: float = Field(
        default=1.0, ge=0, le=50, description="Quiescent current of one dark LED."
    )


class OutputSettings(WireModel):
    """The output stage: applied once to every frame, whatever the driver."""

    color_order: ColorOrder = "RGB"
    gamma: float = Field(default=2.2, ge=1.0, le=3.0, description="1.0 disables correction.")
    max_brightness: int = Field(
        default=255, ge=1, le=255, description="Cap on the user's brightness (0..255)."
    )
    fps: int = Field(default=60, ge=1, le=240, description="Target frames per second.")
    power: PowerSettings = PowerSettings()


class EmulatorDriver(WireModel):
    name: Literal["emulator"] = "emulator"
    scale: int = Field(default=8, ge=1, le=32, description="Pixel size in the live view.")


class TerminalDriver(WireModel):
    name: Literal["terminal"] = "terminal"


class NullDriver(WireModel):
    name: Literal["null"] = "null"


class Hub75Driver(WireModel):
    """HUB75 panels through hzeller's rpi-rgb-led-matrix (module ``rgbmatrix``)."""

    name: Literal["hub75"] = "hub75"
    hardware_mapping: str = Field(default="regular", max_length=64)
    rows: int = Field(default=32, ge=8, le=64, description="Rows of one panel.")
    cols: int = Field(default=64, ge=16, le=256, description="Columns of one panel.")
    chain_length: int = Field(default=1, ge=1, le=32)
    parallel: int = Field(default=1, ge=1, le=6)
    pwm_bits: int = Field(default=11, ge=1, le=11)
    pwm_lsb_nanoseconds: int = Field(default=130, ge=50, le=3000)
    gpio_slowdown: int = Field(default=1, ge=0, le=5)
    scan_mode: Literal[0, 1] = 0
    multiplexing: int = Field(default=0, ge=0, le=20)
    row_address_type: int = Field(default=0, ge=0, le=5)
    led_rgb_sequence: str = Field(default="RGB", pattern=r"^[RGB]{3}$")
    panel_type: str = Field(default="", max_length=32)
    disable_hardware_pulsing: bool = False


class Ws281xDriver(WireModel):
    """WS281x strips wired as a grid, through ``rpi_ws281x``."""

    name: Literal["ws281x"] = "ws281x"
    gpio: int = Field(default=18, ge=0, le=27)
    frequency_hz: int = Field(default=800_000, ge=400_000, le=800_000)
    dma: int = Field(default=10, ge=0, le=14)
    channel: Literal[0, 1] = 0
    invert: bool = False
    strip_type: Literal["WS2811", "WS2812", "SK6812", "SK6812W"] = "WS2812"


class DdpDriver(WireModel):
    """Send frames with DDP (UDP 4048) to another controller, e.g. WLED."""

    name: Literal["ddp"] = "ddp"
    host: str = Field(min_length=1, max_length=253)
    port: int = Field(default=4048, ge=1, le=65535)
    destination_id: int = Field(default=1, ge=1, le=255)


class E131Driver(WireModel):
    """Send frames with E1.31 / sACN (UDP 5568), unicast or multicast."""

    name: Literal["e131"] = "e131"
    host: str | None = Field(
        default=None, max_length=253, description="Unicast target; none: multicast."
    )
    port: int = Field(default=5568, ge=1, le=65535)
    universe: int = Field(default=1, ge=1, le=63999, description="First universe.")
    channels_per_universe: int = Field(default=510, ge=3, le=512)
    priority: int = Field(default=100, ge=0, le=200)
    source_name: str = Field(default="LightBox", max_length=63)


DriverSettings = Annotated[
    EmulatorDriver
    | TerminalDriver
    | NullDriver
    | Hub75Driver
    | Ws281xDriver
    | DdpDriver
    | E131Driver,
    Field(discriminator="name"),
]

DRIVER_NAMES = ("emulator", "terminal", "null", "hub75", "ws281x", "ddp", "e131")


class Location(WireModel):
    """Where the LightBox is, for sunrise and sunset schedules."""

    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)


class Settings(WireModel):
    """Everything a user configures on a LightBox."""

    name: str = Field(default="LightBox", min_length=1, max_length=64)
    timezone: str = Field(default="UTC", description="IANA time zone, e.g. Europe/Berlin.")
    location: Location | None = None
    matrix: MatrixSettings = MatrixSettings()
    output: OutputSettings = OutputSettings()
    driver: DriverSettings = EmulatorDriver()

    @model_validator(mode="after")
    def _check_timezone(self) -> Settings:
        from lightbox.protocol.timezones import check_timezone

        check_timezone(self.timezone)
        return self
