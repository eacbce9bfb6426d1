"""E1.31 (sACN, ANSI E1.31-2018) output over UDP, unicast or multicast.

A frame in strip layout is cut into consecutive universes of ``channels_per_universe // 3``
whole pixels (510 channels = 170 RGB pixels by default; a pixel never straddles two
universes). Every universe carries its own sequence number, which advances by one with
every frame. Data packet layout (offsets in bytes)::

    root layer      0  preamble size 0x0010          2  post-amble size 0x0000
                    4  ACN packet identifier "ASC-E1.17\\0\\0\\0"
                   16  flags+length 0x7000|len      18  vector 0x00000004 (E1.31 data)
                   22  CID, 16 bytes (a UUID stable per sender)
    framing layer  38  flags+length                 40  vector 0x00000002 (data packet)
                   44  source name, 64 bytes UTF-8, NUL padded
                  108  priority (0..200)           109  synchronization address 0
                  111  sequence number             112  options (0x40: stream terminated)
                  113  universe
    DMP layer     115  flags+length                117  vector 0x02 (set property)
                  118  address & data type 0xa1    119  first property address 0x0000
                  121  address increment 0x0001    123  property value count = 1 + channels
                  125  DMX start code 0x00         126  channel data (up to 512 bytes)

Without a host, packets go to the universe's multicast group ``239.255.<hi>.<lo>`` with
``IP_MULTICAST_TTL`` 1 (the local network segment only; routers do not forward them).
"""

from __future__ import annotations

import contextlib
import socket
import struct
import uuid
from typing import ClassVar

from lightbox.drivers._udp import UdpSender
from lightbox.drivers.base import Driver, DriverConfigError, DriverError
from lightbox.protocol.settings import E131Driver
from lightbox.render.output import Layout, OutputFrame

__all__ = [
    "ACN_PACKET_IDENTIFIER",
    "OPTION_STREAM_TERMINATED",
    "E131Output",
    "build_packet",
    "build_packets",
    "default_cid",
    "multicast_group",
    "universes_needed",
]

ACN_PACKET_IDENTIFIER = b"ASC-E1.17\x00\x00\x00"
VECTOR_ROOT_E131_DATA = 0x00000004
VECTOR_E131_DATA_PACKET = 0x00000002
VECTOR_DMP_SET_PROPERTY = 0x02
OPTION_STREAM_TERMINATED = 0x40
HEADER_SIZE = 126
MAX_UNIVERSE = 63999
MULTICAST_TTL = 1

_ROOT = struct.Struct(">HH12sHI16s")
_FRAMING = struct.Struct(">HI64sBHBBH")
_DMP = struct.Struct(">HBBHHHB")


def default_cid(source_name: str = "LightBox") -> uuid.UUID:
    """A CID that stays the same for this host and source name across restarts."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"lightbox:e131:{socket.gethostname()}:{source_name}")


def multicast_group(universe: int) -> str:
    return f"239.255.{universe >> 8}.{universe & 0xFF}"


def _source_name_bytes(name: str) -> bytes:
    encoded = name.encode("utf-8")[:63]
    return encoded.decode("utf-8", errors="ignore").encode("utf-8")  # no cut characters


def build_packet(
    universe: int,
    channels: bytes,
    *,
    cid: uuid.UUID,
    source_name: str = "LightBox",
    priority: int = 100,
    sequence: int = 0,
    options: int = 0,
) -> bytes:
    """One E1.31 data packet for ``universe`` carrying up to 512 channel values."""
    if not 1 <= universe <= MAX_UNIVERSE:
        raise ValueError(f"universe {universe} is not 1..{MAX_UNIVERSE}")
    if len(channels) > 512:
        raise ValueError(f"{len(channels)} channels do not fit a universe (512)")
    if not 0 <= priority <= 200:
        raise ValueError(f"priority {priority} is not 0..200")
    total = HEADER_SIZE + len(channels)
    root = _ROOT.pack(
        0x0010,
        0x0000,
        ACN_PACKET_IDENTIFIER,
        0x7000 | (total - 16),
        VECTOR_ROOT_E131_DATA,
        cid.bytes,
    )
    framing = _FRAMING.pack(
        0x7000 | (total - 38),
        VECTOR_E131_DATA_PACKET,
        _source_name_bytes(source_name),  # struct pads with NULs to 64 bytes
        priority,
        0,  # synchronization address: none
        sequence & 0xFF,
        options,
        universe,
    )
    dmp = _DMP.pack(
        0x7000 | (total - 115), VECTOR_DMP_SET_PROPERTY, 0xA1, 0x0000, 0x0001, 1 + len(channels), 0
    )
    return root + framing + dmp + channels


def universes_needed(data_len: int, channels_per_universe: int = 510) -> int:
    per_universe = (channels_per_universe // 3) * 3
    return max(1, -(-data_len // per_universe))


def build_packets(
    data: bytes,
    *,
    first_universe: int = 1,
    cid: uuid.UUID,
    channels_per_universe: int = 510,
    source_name: str = "LightBox",
    priority: int = 100,
    sequence: int = 0,
    options: int = 0,
) -> list[bytes]:
    """The packets of one frame of RGB data: universe ``first_universe + k`` for packet k.

    Each universe holds ``channels_per_universe // 3`` whole pixels; ``sequence`` is the
    sequence number of this frame in every universe.
    """
    if channels_per_universe < 3:
        raise ValueError("a universe must hold at least one RGB pixel (3 channels)")
    per_universe = (min(channels_per_universe, 512) // 3) * 3
    count = universes_needed(len(data), per_universe)
    return [
        build_packet(
            first_universe + k,
            data[k * per_universe : (k + 1) * per_universe],
            cid=cid,
            source_name=source_name,
            priority=priority,
            sequence=sequence,
            options=options,
        )
        for k in range(count)
    ]


class E131Output(Driver):
    """Sends every frame as E1.31 to ``settings.host`` or the universes' multicast groups."""

    layout: ClassVar[Layout] = "strip"

    def __init__(
        self, settings: E131Driver, led_count: int, *, cid: uuid.UUID | None = None
    ) -> None:
        super().__init__()
        self.settings = settings
        self.cid = cid or default_cid(settings.source_name)
        self._data_len = led_count * 3
        self.universe_count = universes_needed(led_count * 3, settings.channels_per_universe)
        last = settings.universe + self.universe_count - 1
        if last > MAX_UNIVERSE:
            raise DriverConfigError(
                f"{led_count} LEDs need universes {settings.universe}..{last}, past "
                f"{MAX_UNIVERSE}: choose a lower first universe"
            )
        universes = range(settings.universe, last + 1)
        if settings.host:
            self._senders = [UdpSender(settings.host, settings.port)]
        else:
            self._senders = [
                UdpSender(multicast_group(u), settings.port, multicast_ttl=MULTICAST_TTL)
                for u in universes
            ]
        self._sequence = 0

    def _packets(self, data: bytes, options: int = 0) -> list[bytes]:
        return build_packets(
            data,
            first_universe=self.settings.universe,
            cid=self.cid,
            channels_per_universe=self.settings.channels_per_universe,
            source_name=self.settings.source_name,
            priority=self.settings.priority,
            sequence=self._sequence,
            options=options,
        )

    def _send(self, packets: list[bytes]) -> None:
        if len(self._senders) == 1:
            self._senders[0].send(packets)
        else:
            for sender, packet in zip(self._senders, packets, strict=True):
                sender.send([packet])
        self._sequence = (self._sequence + 1) & 0xFF

    def _open(self) -> None:
        try:
            for sender in self._senders:
                sender.open()
        except BaseException:
            for sender in self._senders:
                sender.close()
            raise

    def _close(self) -> None:
        # Tell receivers the stream ended (E1.31 6.2.6: three packets with the option set).
        try:
            with contextlib.suppress(DriverError):  # best effort while closing
                blank = bytes(self._data_len)
                for _ in range(3):
                    self._send(self._packets(blank, OPTION_STREAM_TERMINATED))
        finally:
            for sender in self._senders:
                sender.close()

    def show(self, frame: OutputFrame) -> None:
        self._check(frame)
        packets = self._packets(frame.pixels.tobytes())
        if len(packets) != self.universe_count:
            raise DriverConfigError(
                f"frame of {frame.pixels.shape[0]} LEDs needs {len(packets)} universes; "
                f"this sender was set up for {self.universe_count}"
            )
        self._send(packets)
        self.frames_shown += 1
