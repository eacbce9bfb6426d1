"""DDP (Distributed Display Protocol) output over UDP, e.g. to WLED.

Each frame is split into packets of at most 1440 data bytes (480 RGB pixels)::

    byte 0     flags: version 1 (0x40), push (0x01) on the last packet of the frame
    byte 1     sequence number 1..15 (low nibble), cycling per packet
    byte 2     data type 0x0B: RGB, 8 bits per channel
    byte 3     destination id (1 = the receiver's default output)
    bytes 4-7  data offset in bytes, big-endian
    bytes 8-9  data length in bytes, big-endian

The pixels arrive in strip layout: LEDs in wiring order, already gamma-encoded and in the
receiver's colour order (set the receiver's own gamma/brightness to neutral).
"""

from __future__ import annotations

import struct
from typing import ClassVar

from lightbox.drivers._udp import UdpSender
from lightbox.drivers.base import Driver
from lightbox.protocol.settings import DdpDriver
from lightbox.render.output import Layout, OutputFrame

__all__ = [
    "DATA_TYPE_RGB8",
    "FLAG_PUSH",
    "FLAG_VERSION_1",
    "HEADER",
    "MAX_DATA",
    "DdpOutput",
    "build_packets",
]

FLAG_VERSION_1 = 0x40
FLAG_PUSH = 0x01
DATA_TYPE_RGB8 = 0x0B
MAX_DATA = 1440
HEADER = struct.Struct(">BBBBIH")


def next_sequence(sequence: int, steps: int = 1) -> int:
    """The DDP sequence ``steps`` after ``sequence`` in the cycle 1..15."""
    return (sequence - 1 + steps) % 15 + 1


def build_packets(data: bytes, *, sequence: int = 1, destination_id: int = 1) -> list[bytes]:
    """The DDP packets of one frame of RGB data; packet ``k`` has ``next_sequence(sequence, k)``.

    An empty frame is one push packet without data.
    """
    if not 1 <= sequence <= 15:
        raise ValueError(f"DDP sequence {sequence} is not 1..15")
    offsets = range(0, max(len(data), 1), MAX_DATA)
    packets = []
    for k, offset in enumerate(offsets):
        chunk = data[offset : offset + MAX_DATA]
        last = k == len(offsets) - 1
        flags = FLAG_VERSION_1 | (FLAG_PUSH if last else 0)
        header = HEADER.pack(
            flags, next_sequence(sequence, k), DATA_TYPE_RGB8, destination_id, offset, len(chunk)
        )
        packets.append(header + chunk)
    return packets


class DdpOutput(Driver):
    """Sends every frame to ``settings.host:settings.port`` with DDP."""

    layout: ClassVar[Layout] = "strip"

    def __init__(self, settings: DdpDriver) -> None:
        super().__init__()
        self.settings = settings
        self._sender = UdpSender(settings.host, settings.port)
        self._sequence = 1

    def _open(self) -> None:
        self._sender.open()

    def _close(self) -> None:
        self._sender.close()

    def show(self, frame: OutputFrame) -> None:
        self._check(frame)
        packets = build_packets(
            frame.pixels.tobytes(),
            sequence=self._sequence,
            destination_id=self.settings.destination_id,
        )
        self._sequence = next_sequence(self._sequence, len(packets))
        self._sender.send(packets)
        self.frames_shown += 1
