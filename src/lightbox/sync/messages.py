"""What travels on the sync and telemetry topics (both sides use this module).

Topics, under the device's own ``lightbox/<id>/`` (the only ones its broker ACL allows):

``lightbox/<id>/sync/up``     device → cloud, QoS 1: sync messages
``lightbox/<id>/sync/down``   cloud → device, QoS 1: sync messages
``lightbox/<id>/telemetry``   device → cloud, QoS 1: a batch of telemetry samples

A **sync message** is one to three lines, each one compact JSON object in the wire format
of :mod:`lightbox.sync` (docs/sync.md): an ack (``{"v":1,"a":...}``) and/or a delta
(``{"v":1,"o":...}``). The JSON encoder never writes a raw newline (it escapes them in
strings), so splitting on ``\\n`` is exact, and each line is decoded once. One message
carries the ack the sender owes and its delta together: one round trip per batch.

A **telemetry batch** is ``{"v":1,"s":[sample, ...]}``; a sample is a flat object of
numbers with ``"at"`` (Unix milliseconds). Unknown fields are kept; missing ones are left
out of charts.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lightbox.protocol.topics import PREFIX
from lightbox.sync import (
    Ack,
    Delta,
    WireFormatError,
    decode_ack,
    decode_delta,
    encode_ack,
    encode_delta,
)

__all__ = [
    "MAX_LINES",
    "TELEMETRY_FIELDS",
    "SyncMessage",
    "decode_message",
    "decode_telemetry",
    "device_of",
    "down_topic",
    "encode_message",
    "encode_telemetry",
    "telemetry_topic",
    "up_topic",
]

WIRE_VERSION = 1
MAX_LINES = 3
_ACK_PREFIX = b'{"v":1,"a":'

TELEMETRY_FIELDS = (
    "uptime_s",
    "fps",
    "target_fps",
    "dropped_frames",
    "estimated_ma",
    "power_limited",
    "commands",
    "errors",
    "sync_refused",
)
"""The sample fields a LightBox sends (numbers; ``power_limited`` is 0 or 1)."""


def up_topic(device_id: str, prefix: str = PREFIX) -> str:
    return f"{prefix}/{device_id}/sync/up"


def down_topic(device_id: str, prefix: str = PREFIX) -> str:
    return f"{prefix}/{device_id}/sync/down"


def telemetry_topic(device_id: str, prefix: str = PREFIX) -> str:
    return f"{prefix}/{device_id}/telemetry"


def device_of(topic: str, prefix: str = PREFIX) -> str | None:
    """``lightbox/<id>/sync/up`` → ``<id>`` (any of the topics above); else ``None``."""
    parts = topic.split("/")
    if len(parts) >= 3 and parts[0] == prefix and parts[1]:
        return parts[1]
    return None


@dataclass(frozen=True, slots=True)
class SyncMessage:
    """An ack the sender owes, and/or its next delta."""

    ack: Ack | None = None
    delta: Delta | None = None

    @property
    def empty(self) -> bool:
        return self.ack is None and self.delta is None


def encode_message(message: SyncMessage) -> bytes:
    lines: list[bytes] = []
    if message.ack is not None:
        lines.append(encode_ack(message.ack))
    if message.delta is not None:
        lines.append(encode_delta(message.delta))
    if not lines:
        raise ValueError("a sync message needs an ack or a delta")
    return b"\n".join(lines)


def decode_message(payload: bytes) -> SyncMessage:
    """The inverse of :func:`encode_message`; :class:`WireFormatError` on anything else."""
    lines = [line for line in payload.split(b"\n") if line.strip()]
    if not lines or len(lines) > MAX_LINES:
        raise WireFormatError(f"a sync message has 1..{MAX_LINES} lines, got {len(lines)}")
    ack: Ack | None = None
    delta: Delta | None = None
    for line in lines:
        if line.startswith(_ACK_PREFIX):
            if ack is not None:
                raise WireFormatError("a sync message carries at most one ack")
            ack = decode_ack(line)
        else:
            if delta is not None:
                raise WireFormatError("a sync message carries at most one delta")
            delta = decode_delta(line)
    return SyncMessage(ack, delta)


def encode_telemetry(samples: Sequence[Mapping[str, float | int]]) -> bytes:
    return json.dumps(
        {"v": WIRE_VERSION, "s": [dict(s) for s in samples]}, separators=(",", ":")
    ).encode()


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


def decode_telemetry(payload: bytes, *, max_samples: int = 10_000) -> list[dict[str, float]]:
    """Samples with an ``at`` (ms) and numeric fields only; others are dropped (lenient)."""
    try:
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as err:
        raise WireFormatError(f"telemetry is not JSON: {err}") from err
    if not isinstance(data, dict) or data.get("v") != WIRE_VERSION:
        raise WireFormatError(f'telemetry must be an object with "v": {WIRE_VERSION}')
    raw = data.get("s")
    if not isinstance(raw, list):
        raise WireFormatError('telemetry needs its samples in "s"')
    samples: list[dict[str, float]] = []
    for item in raw[:max_samples]:
        if not isinstance(item, dict):
            continue
        at = _number(item.get("at"))
        if at is None or at <= 0:
            continue
        fields = {
            str(k)[:64]: n
            for k, v in list(item.items())[:64]
            if k != "at" and (n := _number(v)) is not None
        }
        samples.append({"at": at, **fields})
    return samples
