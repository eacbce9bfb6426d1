"""The launcher: decides which slot starts. Updates never replace it.

It is standard library only and self-contained, so it is installed once as a plain file
(``/opt/lightbox/launcher.py``) and started by systemd with the system Python; the update
agent inside each slot imports the same code for the state file.

A bootloader's boot counter, for Python slots::

    pending (trial) slot set and boot_attempts < N  ->  boot_attempts += 1 (saved first),
                                                        start the trial slot
    pending set and boot_attempts >= N              ->  the trial failed: clear it, record
                                                        the failure, start the active slot
    otherwise                                       ->  start the active (committed) slot

then ``exec`` the slot's ``lightbox edge run`` with the launcher's own arguments. The agent of
a healthy trial commits it (pending -> active, counter reset); a trial that keeps crashing
never does, so after N starts the launcher falls back on its own.

Layout under the root (default ``/opt/lightbox``, or ``$LIGHTBOX_ROOT``)::

    slots/a/ slots/b/      each: venv/ (the installed release), wheels/, slot.json (marker)
    current -> slots/a     symlink, switched atomically; for people and tools
    state.json             the authority: written atomically (fsync file + directory)
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

DEFAULT_ROOT = "/opt/lightbox"
DEFAULT_MAX_ATTEMPTS = 3
SLOTS = ("a", "b")
STATE_FILE = "state.json"
CURRENT_LINK = "current"
MARKER_FILE = "slot.json"
EX_CONFIG = 78  # sysexits: nothing installed that could start


@dataclasses.dataclass(frozen=True)
class SlotState:
    """What ``state.json`` records."""

    active: str | None = None
    active_version: str | None = None
    previous: str | None = None
    previous_version: str | None = None
    pending: str | None = None
    pending_version: str | None = None
    boot_attempts: int = 0
    last_failure: dict[str, Any] | None = None
    failure_reported: bool = True

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SlotState:
        names = {f.name for f in dataclasses.fields(cls)}
        state = cls(**{k: v for k, v in data.items() if k in names})
        for slot in (state.active, state.previous, state.pending):
            if slot is not None and slot not in SLOTS:
                raise ValueError(f"unknown slot {slot!r} in {STATE_FILE}")
        return state


def fail_trial(state: SlotState, reason: str, at: float | None = None) -> SlotState:
    """The state after the pending trial slot is given up: back to the committed slot."""
    if state.pending is None:
        return state
    failure = {
        "slot": state.pending,
        "version": state.pending_version,
        "reason": reason,
        "boot_attempts": state.boot_attempts,
        "at": at,
    }
    return dataclasses.replace(
        state,
        pending=None,
        pending_version=None,
        boot_attempts=0,
        last_failure=failure,
        failure_reported=False,
    )


def decide(
    state: SlotState, max_attempts: int = DEFAULT_MAX_ATTEMPTS
) -> tuple[str | None, SlotState]:
    """Which slot to start, and the state to save BEFORE starting it. Pure."""
    if state.pending is not None:
        if state.boot_attempts < max_attempts:
            return state.pending, dataclasses.replace(state, boot_attempts=state.boot_attempts + 1)
        state = fail_trial(
            state, f"did not become healthy in {state.boot_attempts} starts", time.time()
        )
    return state.active, state


# ------------------------------------------------------------------ files (atomic, durable)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """temp file, fsync, rename over, fsync the directory: old or new, never half."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("w") as fh:
        json.dump(data, fh, indent=2, sort_keys=True)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def read_state(root: Path) -> SlotState:
    try:
        data = json.loads((root / STATE_FILE).read_text())
    except FileNotFoundError:
        return SlotState()
    return SlotState.from_json(data)


def write_state(root: Path, state: SlotState) -> None:
    write_json_atomic(root / STATE_FILE, state.to_json())


def slot_dir(root: Path, slot: str) -> Path:
    if slot not in SLOTS:
        raise ValueError(f"unknown slot {slot!r}")
    return root / "slots" / slot


def entry_point(root: Path, slot: str) -> Path:
    return slot_dir(root, slot) / "venv" / "bin" / "lightbox"


def slot_ready(root: Path, slot: str) -> bool:
    """Installed completely: the marker is written last, after pip succeeded."""
    return (slot_dir(root, slot) / MARKER_FILE).is_file() and entry_point(root, slot).exists()


def current_slot(root: Path) -> str | None:
    try:
        target = os.readlink(root / CURRENT_LINK)
    except OSError:
        return None
    name = Path(target).name
    return name if name in SLOTS else None


def switch_current(root: Path, slot: str) -> None:
    """Point ``current`` at the slot atomically (new symlink, renamed over the old)."""
    link = root / CURRENT_LINK
    tmp = root / f".{CURRENT_LINK}.{os.getpid()}.tmp"
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    os.symlink(os.path.join("slots", slot), tmp)
    os.replace(tmp, link)
    _fsync_dir(root)


# ------------------------------------------------------------------ main


def choose(root: Path, max_attempts: int = DEFAULT_MAX_ATTEMPTS) -> tuple[str, SlotState]:
    """decide(), also falling back when the trial slot is not (completely) installed."""
    state = read_state(root)
    slot, new = decide(state, max_attempts)
    if slot is not None and slot == state.pending and not slot_ready(root, slot):
        new = fail_trial(state, "the trial slot is not completely installed", time.time())
        slot = new.active
    if slot is None or not slot_ready(root, slot):
        raise SystemExit(f"lightbox launcher: no installed slot to start under {root}")
    return slot, new


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Start the LightBox from the right slot (A/B with a boot counter).",
        epilog="Arguments after -- go to `lightbox edge run`.",
    )
    parser.add_argument("--root", default=os.environ.get("LIGHTBOX_ROOT", DEFAULT_ROOT))
    parser.add_argument("--max-attempts", type=int, default=DEFAULT_MAX_ATTEMPTS)
    args, rest = parser.parse_known_args(argv)
    if rest[:1] == ["--"]:
        rest = rest[1:]
    root = Path(args.root)
    try:
        slot, state = choose(root, args.max_attempts)
    except SystemExit as err:
        print(err, file=sys.stderr)
        sys.exit(EX_CONFIG)
    write_state(root, state)  # the counter is durable before the slot runs
    if current_slot(root) != slot:
        switch_current(root, slot)
    version = state.pending_version if slot == state.pending else state.active_version
    print(f"lightbox launcher: starting slot {slot} ({version})", file=sys.stderr, flush=True)
    exe = entry_point(root, slot)
    env = dict(os.environ, LIGHTBOX_SLOT=slot, LIGHTBOX_ROOT=str(root))
    os.execve(exe, [str(exe), "edge", "run", *rest], env)


if __name__ == "__main__":
    main()
