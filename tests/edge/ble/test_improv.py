"""The Improv wire format: framing, commands, results, reassembly (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lightbox.edge.ble import improv
from lightbox.edge.ble.improv import (
    Capability,
    DeviceInfoRequest,
    DeviceName,
    ErrorCode,
    Hostname,
    Identify,
    ImprovError,
    PacketAssembler,
    ScanWifi,
    State,
    WifiSettings,
)


def test_spec_example_packet() -> None:
    # improv-wifi.com/ble: 01 1E 0C {MyWirelessAP} 10 {mysecurepassword} CS
    packet = improv.build_command(WifiSettings("MyWirelessAP", "mysecurepassword"))
    assert packet[:3] == bytes((0x01, 0x1E, 0x0C))
    assert packet[-1] == sum(packet[:-1]) & 0xFF
    assert improv.parse_command(packet) == WifiSettings("MyWirelessAP", "mysecurepassword")


@pytest.mark.parametrize(
    "command",
    [
        WifiSettings("home", ""),
        WifiSettings("Zuhause ☕", "pässwörd"),
        Identify(),
        DeviceInfoRequest(),
        ScanWifi(),
        Hostname(),
        Hostname("lightbox-kitchen"),
        DeviceName(),
        DeviceName("Kitchen sign"),
    ],
)
def test_commands_round_trip(command: improv.Command) -> None:
    assert improv.parse_command(improv.build_command(command)) == command


def test_password_is_not_in_repr() -> None:
    assert "hunter2" not in repr(WifiSettings("home", "hunter2"))


@pytest.mark.parametrize(
    ("packet", "code"),
    [
        (b"", ErrorCode.INVALID_RPC_PACKET),
        (b"\x02\x00", ErrorCode.INVALID_RPC_PACKET),  # no checksum
        (b"\x02\x00\x03", ErrorCode.INVALID_RPC_PACKET),  # bad checksum
        (b"\x02\x01\x00\x03", ErrorCode.INVALID_RPC_PACKET),  # identify takes no data
        (improv.frame(0x01, b"\x04home"), ErrorCode.INVALID_RPC_PACKET),  # no password
        (improv.frame(0x01, b"\x09home\x00"), ErrorCode.INVALID_RPC_PACKET),  # overrun
        (improv.frame(0x01, b"\x00\x00"), ErrorCode.INVALID_RPC_PACKET),  # empty SSID
        (improv.frame(0x01, b"\x21" + b"x" * 33 + b"\x00"), ErrorCode.INVALID_RPC_PACKET),
        (improv.frame(0x01, b"\x02\xff\xfe\x00"), ErrorCode.INVALID_RPC_PACKET),  # not UTF-8
        (improv.frame(0x05, b"\x01a\x01b"), ErrorCode.INVALID_RPC_PACKET),  # two names
        (improv.frame(0x06, b"\x01\n"), ErrorCode.INVALID_RPC_PACKET),  # unprintable
        (improv.frame(0x07, b""), ErrorCode.UNKNOWN_RPC_COMMAND),
        (improv.frame(0xFF, b"\x01x"), ErrorCode.UNKNOWN_RPC_COMMAND),
    ],
)
def test_refused_packets(packet: bytes, code: ErrorCode) -> None:
    with pytest.raises(ImprovError) as caught:
        improv.parse_command(packet)
    assert caught.value.code is code


def test_results_are_length_prefixed_strings() -> None:
    packet = improv.build_result(0x01, ["http://10.0.0.2/#pair=X"])
    command, data = improv.unframe(packet)
    assert command == 0x01
    assert improv.decode_strings(data) == [b"http://10.0.0.2/#pair=X"]
    assert improv.build_result(0x04, []) == bytes((0x04, 0x00, 0x04))


def test_frame_refuses_oversized_data() -> None:
    with pytest.raises(ValueError, match="do not fit"):
        improv.frame(0x01, b"x" * 256)
    with pytest.raises(ValueError, match="length byte"):
        improv.encode_strings([b"x" * 256])


def test_fit_strings_keeps_whole_groups() -> None:
    groups = [(f"net{i:02d}", "-50", "WPA2") for i in range(40)]
    flat = improv.fit_strings(groups)
    assert len(flat) % 3 == 0
    assert len(improv.encode_strings(flat)) <= improv.MAX_DATA
    assert len(improv.encode_strings([*flat, *groups[len(flat) // 3]])) > improv.MAX_DATA


def test_service_data() -> None:
    caps = Capability.IDENTIFY | Capability.DEVICE_INFO
    assert improv.service_data(State.AUTHORIZED, caps) == b"\x02\x03\x00\x00\x00\x00"


@pytest.mark.parametrize("name", ["lightbox", "LightBox-2", "a", "x" * 63, "9lives"])
def test_valid_hostnames(name: str) -> None:
    assert improv.valid_hostname(name)


@pytest.mark.parametrize("name", ["", "-a", "a-", "x" * 64, "a.b", "a_b", "kü", "a b"])
def test_bad_hostnames(name: str) -> None:
    assert not improv.valid_hostname(name)


# -- reassembly ---------------------------------------------------------------------------


def test_assembler_joins_split_writes() -> None:
    packet = improv.build_command(WifiSettings("home", "a long password, " * 5))
    assembler = PacketAssembler()
    out = [assembler.feed(packet[i : i + 20], now=0.0) for i in range(0, len(packet), 20)]
    assert out[:-1] == [None] * (len(out) - 1)
    assert out[-1] == packet
    assert assembler.pending == 0


def test_assembler_refuses_bytes_past_the_length() -> None:
    assembler = PacketAssembler()
    with pytest.raises(ImprovError) as caught:
        assembler.feed(improv.frame(0x02, b"") + b"\x00", now=0.0)
    assert caught.value.code is ErrorCode.INVALID_RPC_PACKET
    assert assembler.pending == 0
    # and the next packet is read cleanly
    assert assembler.feed(improv.frame(0x02, b""), now=0.1) == improv.frame(0x02, b"")


def test_assembler_size_cap() -> None:
    assembler = PacketAssembler(max_packet=32)
    with pytest.raises(ImprovError):
        assembler.feed(bytes((0x01, 100)), now=0.0)
    with pytest.raises(ImprovError):
        assembler.feed(b"\x01" * 40, now=0.0)
    assert assembler.pending == 0


def test_assembler_drops_a_stale_partial_packet() -> None:
    assembler = PacketAssembler(timeout=5.0)
    assert assembler.feed(b"\x01\x10\x04ho", now=0.0) is None
    whole = improv.frame(0x02, b"")
    assert assembler.feed(whole, now=6.0) == whole


# -- fuzzing ------------------------------------------------------------------------------

_KNOWN = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06}


@given(st.binary(max_size=300))
def test_fuzz_parse_never_crashes(packet: bytes) -> None:
    try:
        command = improv.parse_command(packet)
    except ImprovError as err:
        assert err.code in (ErrorCode.INVALID_RPC_PACKET, ErrorCode.UNKNOWN_RPC_COMMAND)
        if err.code is ErrorCode.UNKNOWN_RPC_COMMAND:
            assert packet[0] not in _KNOWN
    else:
        assert improv.build_command(command)[0] == packet[0]


@given(st.integers(0, 255), st.binary(max_size=255), st.integers(1, 255))
def test_fuzz_bad_checksum_is_invalid(command: int, data: bytes, delta: int) -> None:
    packet = bytearray(improv.frame(command, data))
    packet[-1] = (packet[-1] + delta) & 0xFF
    with pytest.raises(ImprovError) as caught:
        improv.parse_command(bytes(packet))
    assert caught.value.code is ErrorCode.INVALID_RPC_PACKET


@given(st.integers(0, 255), st.binary(max_size=255), st.data())
def test_fuzz_truncated_is_never_whole(command: int, data: bytes, draw: st.DataObject) -> None:
    packet = improv.frame(command, data)
    cut = draw.draw(st.integers(0, len(packet) - 1))
    assert PacketAssembler().feed(packet[:cut], now=0.0) is None
    with pytest.raises(ImprovError):
        improv.parse_command(packet[:cut])


@given(st.lists(st.binary(min_size=1, max_size=40), max_size=20))
def test_fuzz_assembler_never_holds_more_than_a_packet(chunks: list[bytes]) -> None:
    assembler = PacketAssembler()
    for chunk in chunks:
        try:
            packet = assembler.feed(chunk, now=0.0)
        except ImprovError as err:
            assert err.code is ErrorCode.INVALID_RPC_PACKET
        else:
            if packet is not None:
                assert len(packet) == packet[1] + 3
        assert assembler.pending <= improv.MAX_PACKET
