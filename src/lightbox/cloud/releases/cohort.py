"""The pure rules of a rollout: who is in the cohort, when to widen, when to halt.

No database and no clock here: the callers pass what they read, so every rule is tested
directly.

Cohort
    A device is in a rollout's cohort when it is a member of the rollout's group (any
    channel), or, for a channel rollout, when its channel accepts the release's channel
    (``beta`` devices take ``stable`` releases too; ``stable`` devices only ``stable``);
    and in both cases when its bucket is below the rollout's percentage. The bucket is a
    stable hash of rollout id and device id into 0..99, so the same devices stay in as
    the percentage grows, and each rollout picks its own first devices.

Halting
    Among the devices that attempted the update in the rollout's current step (reported
    anything past the offer), once at least ``min_sample`` did: when the fraction that
    failed (``failed`` or ``rolled_back``) is above ``failure_threshold``, the rollout
    halts with a reason that says so.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from packaging.version import InvalidVersion, Version

CHANNELS = ("stable", "beta")
"""Channels in order of caution: a device on a channel accepts that one and those before."""

OFFERED = "offered"
FAILED_STATES = frozenset({"failed", "rolled_back"})
DONE_STATES = frozenset({"committed"})
IGNORED_STATES = frozenset({"idle", "checking"})
"""Reports that say nothing about one release's progress; they are not stored."""
MAX_ATTEMPTS = 3
"""A device that failed this many times is not offered the release again."""


def bucket(rollout_id: str, device_id: str) -> int:
    """The device's place in a rollout, 0..99, the same on every call and instance."""
    digest = hashlib.sha256(f"{rollout_id}:{device_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 100


def channel_accepts(device_channel: str, release_channel: str) -> bool:
    if device_channel == release_channel:
        return True
    if device_channel in CHANNELS and release_channel in CHANNELS:
        return CHANNELS.index(release_channel) <= CHANNELS.index(device_channel)
    return False


def in_cohort(
    *,
    rollout_id: str,
    device_id: str,
    percentage: int,
    rollout_channel: str | None,
    device_channel: str,
    in_group: bool | None,
) -> bool:
    """``in_group``: None for a channel rollout, else whether the device is a member."""
    if in_group is None:
        if rollout_channel is None or not channel_accepts(device_channel, rollout_channel):
            return False
    elif not in_group:
        return False
    return bucket(rollout_id, device_id) < percentage


def is_newer(version: str, current: str | None) -> bool:
    """Whether ``version`` is newer than ``current`` (an unreadable current: yes)."""
    if current is None:
        return True
    try:
        return Version(version) > Version(current)
    except InvalidVersion:
        return version != current


def may_offer(state: str | None, attempts: int) -> bool:
    """Whether a device with this progress on the release may be offered it (again)."""
    if state is None or state == OFFERED:
        return True
    if state == "rolled_back" or state in DONE_STATES:
        return False
    if state == "failed":
        return attempts < MAX_ATTEMPTS
    return True  # in progress: the agent resumes it (e.g. a new presigned URL)


def next_percentage(steps: Sequence[int], current: int) -> int | None:
    """The first step above ``current``; None when the rollout is at its last step."""
    return next((s for s in sorted(steps) if s > current), None)


@dataclass(frozen=True)
class StepCounts:
    attempted: int
    failed: int


def halt_reason(counts: StepCounts, *, threshold: float, min_sample: int, step: int) -> str | None:
    """Why the rollout must halt now, or None."""
    if counts.attempted < max(1, min_sample):
        return None
    rate = counts.failed / counts.attempted
    if rate <= threshold:
        return None
    return (
        f"{counts.failed} of {counts.attempted} devices failed in step {step} "
        f"({rate:.0%} > threshold {threshold:.0%})"
    )


__all__ = [
    "CHANNELS",
    "DONE_STATES",
    "FAILED_STATES",
    "IGNORED_STATES",
    "MAX_ATTEMPTS",
    "OFFERED",
    "StepCounts",
    "bucket",
    "channel_accepts",
    "halt_reason",
    "in_cohort",
    "is_newer",
    "may_offer",
    "next_percentage",
]
