"""Improv Wi-Fi over BLE, the wire format only (https://www.improv-wifi.com/ble/, v2.4).

Pure: bytes in, typed values out, and back. No D-Bus, no clock (time is passed in), no I/O.

RPC packets, on the RPC command characteristic (client -> device) and the RPC result
characteristic (device -> client)::

    [command id] [data length] [data ...] [checksum = low byte of the sum of all bytes before]

Command data is command-specific (Wi-Fi settings: ``[len] ssid [len] password``); result
data is always a list of length-prefixed UTF-8 strings. A command may arrive split over
several writes: :class:`PacketAssembler` joins them by the length byte. The state, error
and capabilities characteristics carry one bare byte each.

Exceptions::

    ImprovError(code)    a packet the device refuses; ``code`` is the ErrorCode to report
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass

SERVICE_UUID = "00467768-6228-2272-4663-277478268000"
STATE_UUID = "00467768-6228-2272-4663-277478268001"
ERROR_UUID = "00467768-6228-2272-4663-277478268002"
RPC_COMMAND_UUID = "00467768-6228-2272-4663-277478268003"
RPC_RESULT_UUID = "00467768-6228-2272-4663-277478268004"
CAPABILITIES_UUID = "00467768-6228-2272-4663-277478268005"
#: 16-bit UUID 0x4677, under which the advertisement carries state and capabilities.
SERVICE_DATA_UUID = "00004677-0000-1000-8000-00805f9b34fb"

#: The largest data part a packet can carry (its length is one byte).
MAX_DATA = 255
#: The largest whole packet: id, length, 255 data bytes, checksum.
MAX_PACKET = MAX_DATA + 3
#: A partial packet older than this (seconds) is dropped when the next write arrives.
REASSEMBLY_TIMEOUT = 5.0

_SSID_MAX = 32  # IEEE 802.11
_DEVICE_NAME_MAX = 64
_HOSTNAME_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")


class State(enum.IntEnum):
    AUTHORIZATION_REQUIRED = 0x01
    AUTHORIZED = 0x02
    PROVISIONING = 0x03
    PROVISIONED = 0x04


class ErrorCode(enum.IntEnum):
    NONE = 0x00
    INVALID_RPC_PACKET = 0x01
    UNKNOWN_RPC_COMMAND = 0x02
    UNABLE_TO_CONNECT = 0x03
    NOT_AUTHORIZED = 0x04
    BAD_HOSTNAME = 0x05
    UNKNOWN = 0xFF


class Capability(enum.IntFlag):
    IDENTIFY = 1 << 0
    DEVICE_INFO = 1 << 1
    SCAN_WIFI = 1 << 2
    HOSTNAME = 1 << 3


class CommandId(enum.IntEnum):
    WIFI_SETTINGS = 0x01
    IDENTIFY = 0x02
    DEVICE_INFO = 0x03
    SCAN_WIFI = 0x04
    HOSTNAME = 0x05
    DEVICE_NAME = 0x06


class ImprovError(Exception):
    """A packet or command the device refuses; ``code`` goes to the error characteristic."""

    def __init__(self, code: ErrorCode, message: str = "") -> None:
        super().__init__(message or code.name.lower().replace("_", " "))
        self.code = code


# -- commands -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WifiSettings:
    ssid: str
    password: str

    def __repr__(self) -> str:  # never log the password
        return f"WifiSettings(ssid={self.ssid!r}, password=<{len(self.password)} chars>)"


@dataclass(frozen=True, slots=True)
class Identify:
    pass


@dataclass(frozen=True, slots=True)
class DeviceInfoRequest:
    pass


@dataclass(frozen=True, slots=True)
class ScanWifi:
    pass


@dataclass(frozen=True, slots=True)
class Hostname:
    """Get the host name (``hostname is None``) or set it."""

    hostname: str | None = None


@dataclass(frozen=True, slots=True)
class DeviceName:
    """Get the device name (``name is None``) or set it."""

    name: str | None = None


Command = WifiSettings | Identify | DeviceInfoRequest | ScanWifi | Hostname | DeviceName


# -- framing ------------------------------------------------------------------------------


def checksum(data: bytes) -> int:
    """The low byte of the sum of ``data``."""
    return sum(data) & 0xFF


def frame(command: int, data: bytes) -> bytes:
    """A whole packet: id, length, data, checksum. Raises ValueError past 255 data bytes."""
    if not 0 <= command <= 0xFF:
        raise ValueError(f"command id {command} is not a byte")
    if len(data) > MAX_DATA:
        raise ValueError(f"{len(data)} data bytes do not fit one packet (max {MAX_DATA})")
    head = bytes((command, len(data))) + data
    return head + bytes((checksum(head),))


def unframe(packet: bytes) -> tuple[int, bytes]:
    """``(command id, data)`` of a whole packet; ImprovError(INVALID_RPC_PACKET) if bad."""
    if len(packet) < 3:
        raise ImprovError(ErrorCode.INVALID_RPC_PACKET, "packet shorter than 3 bytes")
    if len(packet) != packet[1] + 3:
        raise ImprovError(
            ErrorCode.INVALID_RPC_PACKET,
            f"length byte says {packet[1]} data bytes, packet carries {len(packet) - 3}",
        )
    if checksum(packet[:-1]) != packet[-1]:
        raise ImprovError(ErrorCode.INVALID_RPC_PACKET, "bad checksum")
    return packet[0], packet[2:-1]


def encode_strings(strings: Sequence[bytes | str]) -> bytes:
    """Length-prefixed strings (UTF-8). Raises ValueError for a string over 255 bytes."""
    out = bytearray()
    for item in strings:
        raw = item.encode() if isinstance(item, str) else item
        if len(raw) > 0xFF:
            raise ValueError(f"a string of {len(raw)} bytes does not fit a length byte")
        out.append(len(raw))
        out += raw
    return bytes(out)


def decode_strings(data: bytes) -> list[bytes]:
    """Split length-prefixed strings; ImprovError(INVALID_RPC_PACKET) if they overrun."""
    strings: list[bytes] = []
    pos = 0
    while pos < len(data):
        size = data[pos]
        end = pos + 1 + size
        if end > len(data):
            raise ImprovError(ErrorCode.INVALID_RPC_PACKET, "a string runs past the data")
        strings.append(data[pos + 1 : end])
        pos = end
    return strings


def build_result(command: int, strings: Sequence[bytes | str]) -> bytes:
    """An RPC result packet carrying ``strings``."""
    return frame(command, encode_strings(strings))


def fit_strings(
    groups: Sequence[Sequence[bytes | str]], budget: int = MAX_DATA
) -> list[bytes | str]:
    """Flatten whole groups (e.g. one network each) while they fit in ``budget`` bytes."""
    out: list[bytes | str] = []
    used = 0
    for group in groups:
        size = len(encode_strings(group))
        if used + size > budget:
            break
        out.extend(group)
        used += size
    return out


def service_data(state: State, capabilities: Capability) -> bytes:
    """The 6 bytes advertised under UUID 0x4677: state, capabilities, 4 reserved zeros."""
    return bytes((int(state), int(capabilities), 0, 0, 0, 0))


# -- commands from packets ----------------------------------------------------------------


def _text(raw: bytes, what: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ImprovError(ErrorCode.INVALID_RPC_PACKET, f"{what} is not UTF-8") from err


def _no_data(data: bytes, what: str) -> None:
    if data:
        raise ImprovError(ErrorCode.INVALID_RPC_PACKET, f"{what} takes no data")


def _optional_string(data: bytes, what: str) -> str | None:
    if not data:
        return None
    strings = decode_strings(data)
    if len(strings) != 1:
        raise ImprovError(ErrorCode.INVALID_RPC_PACKET, f"{what} takes one string")
    return _text(strings[0], what)


def valid_hostname(hostname: str) -> bool:
    """An RFC 1123 host label: letters, digits and inner hyphens, 1 to 63 characters."""
    return bool(_HOSTNAME_RE.fullmatch(hostname))


def parse_command(packet: bytes) -> Command:
    """A typed command from a whole packet.

    Raises ImprovError: INVALID_RPC_PACKET for bad framing or data, UNKNOWN_RPC_COMMAND
    for a well-framed packet with an id this device does not know. A host name is only
    checked for shape by the caller (BAD_HOSTNAME belongs to the state machine's answer).
    """
    command, data = unframe(packet)
    if command == CommandId.WIFI_SETTINGS:
        strings = decode_strings(data)
        if len(strings) != 2:
            raise ImprovError(
                ErrorCode.INVALID_RPC_PACKET, "Wi-Fi settings take an SSID and a password"
            )
        ssid = _text(strings[0], "SSID")
        if not 1 <= len(strings[0]) <= _SSID_MAX:
            raise ImprovError(ErrorCode.INVALID_RPC_PACKET, "an SSID has 1 to 32 bytes")
        return WifiSettings(ssid=ssid, password=_text(strings[1], "password"))
    if command == CommandId.IDENTIFY:
        _no_data(data, "identify")
        return Identify()
    if command == CommandId.DEVICE_INFO:
        _no_data(data, "device info")
        return DeviceInfoRequest()
    if command == CommandId.SCAN_WIFI:
        _no_data(data, "scan")
        return ScanWifi()
    if command == CommandId.HOSTNAME:
        return Hostname(_optional_string(data, "hostname"))
    if command == CommandId.DEVICE_NAME:
        name = _optional_string(data, "device name")
        if name is not None and not (
            0 < len(name.encode()) <= _DEVICE_NAME_MAX and name.isprintable()
        ):
            raise ImprovError(
                ErrorCode.INVALID_RPC_PACKET, "a device name has 1 to 64 printable bytes"
            )
        return DeviceName(name)
    raise ImprovError(ErrorCode.UNKNOWN_RPC_COMMAND, f"unknown command 0x{command:02x}")


def build_command(command: Command) -> bytes:
    """The packet a client writes for ``command`` (used by tests and tools)."""
    match command:
        case WifiSettings(ssid=ssid, password=password):
            return frame(CommandId.WIFI_SETTINGS, encode_strings([ssid, password]))
        case Identify():
            return frame(CommandId.IDENTIFY, b"")
        case DeviceInfoRequest():
            return frame(CommandId.DEVICE_INFO, b"")
        case ScanWifi():
            return frame(CommandId.SCAN_WIFI, b"")
        case Hostname(hostname=hostname):
            return frame(CommandId.HOSTNAME, encode_strings([hostname]) if hostname else b"")
        case DeviceName(name=name):
            return frame(CommandId.DEVICE_NAME, encode_strings([name]) if name else b"")


# -- reassembly ---------------------------------------------------------------------------


class PacketAssembler:
    """Joins the writes of one RPC command into whole packets.

    :meth:`feed` returns a whole packet once the bytes announced by the length byte have
    arrived, ``None`` while more are expected, and raises ImprovError(INVALID_RPC_PACKET)
    (dropping what it holds) when a write runs past the announced length or past
    ``max_packet``. A partial packet left alone for ``timeout`` seconds is dropped, so one
    broken client cannot wedge the next.
    """

    def __init__(self, max_packet: int = MAX_PACKET, timeout: float = REASSEMBLY_TIMEOUT) -> None:
        self.max_packet = min(max_packet, MAX_PACKET)
        self.timeout = timeout
        self._buffer = bytearray()
        self._last = 0.0

    @property
    def pending(self) -> int:
        """Bytes held of an incomplete packet."""
        return len(self._buffer)

    def reset(self) -> None:
        self._buffer.clear()

    def feed(self, chunk: bytes, now: float) -> bytes | None:
        if self._buffer and now - self._last > self.timeout:
            self._buffer.clear()
        self._last = now
        if len(self._buffer) + len(chunk) > self.max_packet:
            self._buffer.clear()
            raise ImprovError(
                ErrorCode.INVALID_RPC_PACKET, f"packet longer than {self.max_packet} bytes"
            )
        self._buffer += chunk
        if len(self._buffer) < 2:
            return None
        expected = self._buffer[1] + 3
        if expected > self.max_packet:
            self._buffer.clear()
            raise ImprovError(
                ErrorCode.INVALID_RPC_PACKET, f"packet longer than {self.max_packet} bytes"
            )
        if len(self._buffer) < expected:
            return None
        packet = bytes(self._buffer)
        self._buffer.clear()
        if len(packet) > expected:
            raise ImprovError(
                ErrorCode.INVALID_RPC_PACKET, "a write ran past the packet's announced length"
            )
        return packet
