"""DDP and E1.31 senders, checked by parsing real UDP datagrams received on 127.0.0.1."""

from __future__ import annotations

import socket
import struct
import uuid
from collections.abc import Iterator

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lightbox.drivers import DriverConfigError
from lightbox.drivers.ddp import DdpOutput, build_packets, next_sequence
from lightbox.drivers.e131 import (
    ACN_PACKET_IDENTIFIER,
    OPTION_STREAM_TERMINATED,
    E131Output,
    build_packet,
    multicast_group,
)
from lightbox.drivers.e131 import build_packets as e131_packets
from lightbox.protocol.settings import DdpDriver, E131Driver, MatrixSettings
from tests.drivers.helpers import output_frame


@pytest.fixture
def receiver() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(2.0)
    yield sock
    sock.close()


def receive(sock: socket.socket, count: int) -> list[bytes]:
    return [sock.recv(2048) for _ in range(count)]


# --- DDP ------------------------------------------------------------------------------


def parse_ddp(packet: bytes) -> dict[str, int | bytes]:
    flags, seq, dtype, dest, offset, length = struct.unpack(">BBBBIH", packet[:10])
    assert len(packet) == 10 + length
    return {
        "flags": flags,
        "seq": seq,
        "type": dtype,
        "dest": dest,
        "offset": offset,
        "data": packet[10:],
    }


def test_ddp_packets_of_a_frame() -> None:
    data = bytes(range(256)) * 12  # 3072 bytes = 1024 pixels -> 1440 + 1440 + 192
    packets = [parse_ddp(p) for p in build_packets(data, sequence=14, destination_id=1)]
    assert [p["offset"] for p in packets] == [0, 1440, 2880]
    assert [len(p["data"]) for p in packets] == [1440, 1440, 192]  # type: ignore[arg-type]
    assert [p["seq"] for p in packets] == [14, 15, 1]
    assert [p["flags"] for p in packets] == [0x40, 0x40, 0x41]
    assert {p["type"] for p in packets} == {0x0B}
    assert {p["dest"] for p in packets} == {1}
    assert b"".join(p["data"] for p in packets) == data  # type: ignore[misc]


@given(size=st.integers(0, 5000), sequence=st.integers(1, 15))
def test_ddp_packets_reassemble(size: int, sequence: int) -> None:
    data = bytes(i % 251 for i in range(size))
    packets = [parse_ddp(p) for p in build_packets(data, sequence=sequence)]
    assert all(len(p["data"]) <= 1440 for p in packets)  # type: ignore[arg-type]
    assert [p["flags"] & 1 for p in packets] == [0] * (len(packets) - 1) + [1]
    assert all(1 <= p["seq"] <= 15 for p in packets)  # type: ignore[operator]
    rebuilt = bytearray(size)
    for p in packets:
        rebuilt[p["offset"] : p["offset"] + len(p["data"])] = p["data"]  # type: ignore[misc,arg-type]
    assert bytes(rebuilt) == data
    assert next_sequence(sequence, len(packets)) == (sequence - 1 + len(packets)) % 15 + 1


def test_ddp_output_over_udp(receiver: socket.socket) -> None:
    port = receiver.getsockname()[1]
    matrix = MatrixSettings(width=32, height=32, serpentine=True)  # 1024 LEDs: 3 packets
    driver = DdpOutput(DdpDriver(host="127.0.0.1", port=port, destination_id=3))
    with driver:
        frames = [output_frame(matrix, "strip", np.full((32, 32, 3), v, np.uint8)) for v in (1, 2)]
        frames.insert(0, output_frame(matrix, "strip"))
        for frame in frames:
            driver.show(frame)
        packets = [parse_ddp(p) for p in receive(receiver, 9)]
    assert driver.frames_shown == 3
    assert [p["seq"] for p in packets] == [1, 2, 3, 4, 5, 6, 7, 8, 9]
    assert {p["dest"] for p in packets} == {3}
    for n, frame in enumerate(frames):
        part = packets[n * 3 : n * 3 + 3]
        assert [p["flags"] for p in part] == [0x40, 0x40, 0x41]
        assert b"".join(p["data"] for p in part) == frame.pixels.tobytes()  # type: ignore[misc]


# --- E1.31 ----------------------------------------------------------------------------


def parse_e131(packet: bytes) -> dict[str, object]:
    """Every field of an E1.31 data packet, checking the lengths are consistent."""
    assert struct.unpack(">HH", packet[0:4]) == (0x0010, 0x0000)
    assert packet[4:16] == ACN_PACKET_IDENTIFIER
    root_fl, root_vector = struct.unpack(">HI", packet[16:22])
    assert root_fl == 0x7000 | (len(packet) - 16)
    assert root_vector == 0x00000004
    framing_fl, framing_vector = struct.unpack(">HI", packet[38:44])
    assert framing_fl == 0x7000 | (len(packet) - 38)
    assert framing_vector == 0x00000002
    name = packet[44:108]
    priority, sync, seq, options, universe = struct.unpack(">BHBBH", packet[108:115])
    dmp_fl, dmp_vector, addr_type, first, incr, count, start = struct.unpack(
        ">HBBHHHB", packet[115:126]
    )
    assert dmp_fl == 0x7000 | (len(packet) - 115)
    assert (dmp_vector, addr_type, first, incr, start) == (0x02, 0xA1, 0, 1, 0)
    assert count == 1 + len(packet) - 126
    return {
        "cid": uuid.UUID(bytes=packet[22:38]),
        "name": name.rstrip(b"\0").decode(),
        "name_raw": name,
        "priority": priority,
        "sync": sync,
        "seq": seq,
        "options": options,
        "universe": universe,
        "data": packet[126:],
    }


CID = uuid.UUID("12345678-1234-5678-1234-567812345678")


def test_e131_packet_fields() -> None:
    packet = build_packet(
        7, b"\x01\x02\x03", cid=CID, source_name="Stage", priority=150, sequence=300
    )
    assert len(packet) == 129
    fields = parse_e131(packet)
    assert fields["cid"] == CID
    assert fields["name"] == "Stage"
    assert fields["name_raw"] == b"Stage" + bytes(59)
    assert (fields["priority"], fields["sync"], fields["seq"], fields["options"]) == (150, 0, 44, 0)
    assert fields["universe"] == 7
    assert fields["data"] == b"\x01\x02\x03"
    assert len(build_packet(1, bytes(512), cid=CID)) == 638


def test_e131_source_name_is_cut_on_a_character_boundary() -> None:
    fields = parse_e131(build_packet(1, b"", cid=CID, source_name="é" * 40))
    raw = fields["name_raw"]
    assert isinstance(raw, bytes)
    assert raw[63] == 0
    assert fields["name"] == "é" * 31


@given(leds=st.integers(1, 1200), per_universe=st.integers(3, 512))
def test_e131_pixels_never_straddle_universes(leds: int, per_universe: int) -> None:
    data = bytes(i % 256 for i in range(leds * 3))
    packets = [
        parse_e131(p)
        for p in e131_packets(data, first_universe=5, cid=CID, channels_per_universe=per_universe)
    ]
    assert [p["universe"] for p in packets] == list(range(5, 5 + len(packets)))
    sizes = [len(p["data"]) for p in packets]  # type: ignore[arg-type]
    assert all(size % 3 == 0 and 0 < size <= per_universe for size in sizes)
    assert b"".join(p["data"] for p in packets) == data  # type: ignore[misc]


def test_e131_output_over_udp(receiver: socket.socket) -> None:
    port = receiver.getsockname()[1]
    matrix = MatrixSettings(width=20, height=20)  # 400 LEDs: 170 + 170 + 60
    settings = E131Driver(
        host="127.0.0.1", port=port, universe=10, priority=120, source_name="Test rig"
    )
    driver = E131Output(settings, matrix.pixel_count, cid=CID)
    assert driver.universe_count == 3
    frames = [
        output_frame(matrix, "strip"),
        output_frame(matrix, "strip", np.full((20, 20, 3), 9, np.uint8)),
    ]
    with driver:
        for frame in frames:
            driver.show(frame)
        shown = [parse_e131(p) for p in receive(receiver, 6)]
    terminated = [parse_e131(p) for p in receive(receiver, 9)]
    assert driver.frames_shown == 2
    assert [p["universe"] for p in shown] == [10, 11, 12] * 2
    assert [p["seq"] for p in shown] == [0, 0, 0, 1, 1, 1]
    assert {p["cid"] for p in shown} == {CID}
    assert {p["name"] for p in shown} == {"Test rig"}
    assert {p["priority"] for p in shown} == {120}
    for n, frame in enumerate(frames):
        data = b"".join(p["data"] for p in shown[n * 3 : n * 3 + 3])  # type: ignore[misc]
        assert data == frame.pixels.tobytes()
    # Closing sends three stream-terminated packets per universe.
    assert {p["options"] for p in terminated} == {OPTION_STREAM_TERMINATED}
    assert sorted(p["universe"] for p in terminated) == [10, 10, 10, 11, 11, 11, 12, 12, 12]


def test_e131_defaults_and_limits() -> None:
    assert multicast_group(1) == "239.255.0.1"
    assert multicast_group(0x1234) == "239.255.18.52"
    a = E131Output(E131Driver(), 100)
    b = E131Output(E131Driver(), 100)
    assert a.cid == b.cid  # stable per host and source name
    assert a.cid != E131Output(E131Driver(source_name="Other"), 100).cid
    with pytest.raises(DriverConfigError, match="choose a lower first universe"):
        E131Output(E131Driver(universe=63999), 1000)
