"""The A/B install layout: install into the inactive slot, switch, commit or abort.

State lives in ``<root>/state.json`` (see :mod:`lightbox.edge.update.launcher`, which owns
its format and decides at each start). The running slot is never written to: installs go
to the other slot only, which is wiped first and marked complete (``slot.json``) last, so
a slot interrupted half-way is never started.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from lightbox.edge.update import launcher
from lightbox.edge.update.errors import InstallError, SlotError
from lightbox.edge.update.launcher import SLOTS, SlotState
from lightbox.release.manifest import Manifest


class SlotLayout:
    """One LightBox install root and the operations on its slots."""

    def __init__(
        self,
        root: Path,
        *,
        python: str = sys.executable,
        pip: Sequence[str] | None = None,
        install_timeout: float = 900,
    ) -> None:
        """``pip``: a pip command to install with (``--python`` targets the slot's venv);
        None creates each venv with its own pip (offline, via ensurepip) and uses that."""
        self.root = root
        self.python = python
        self.pip = list(pip) if pip is not None else None
        self.install_timeout = install_timeout

    # paths
    @property
    def downloads(self) -> Path:
        return self.root / "downloads"

    def slot_dir(self, slot: str) -> Path:
        return launcher.slot_dir(self.root, slot)

    def ensure(self) -> None:
        for path in (self.root / "slots", self.downloads):
            path.mkdir(parents=True, exist_ok=True)

    # state
    def state(self) -> SlotState:
        return launcher.read_state(self.root)

    def save(self, state: SlotState) -> None:
        launcher.write_state(self.root, state)

    def running_slot(self) -> str | None:
        """The slot this process runs from (set by the launcher), else where ``current`` points."""
        slot = os.environ.get("LIGHTBOX_SLOT")
        return slot if slot in SLOTS else launcher.current_slot(self.root)

    def inactive_slot(self) -> str:
        active = self.state().active
        return "b" if active == "a" else "a"

    def slot_version(self, slot: str) -> str | None:
        import json

        try:
            data = json.loads((self.slot_dir(slot) / launcher.MARKER_FILE).read_text())
        except (OSError, ValueError):
            return None
        version = data.get("version")
        return version if isinstance(version, str) else None

    def ready(self, slot: str) -> bool:
        return launcher.slot_ready(self.root, slot)

    # install
    def install(self, slot: str, wheels: Path, manifest: Manifest) -> None:
        """Install the verified wheels into ``slot`` (never the active or running one)."""
        state = self.state()
        if slot in (state.active, state.pending, self.running_slot()):
            raise SlotError(f"slot {slot} is in use; install into the inactive slot")
        target = self.slot_dir(slot)
        self.wipe(slot)
        target.mkdir(parents=True)
        shutil.copytree(wheels, target / "wheels")
        venv = target / "venv"
        self._run([self.python, "-m", "venv", *(["--without-pip"] if self.pip else []), str(venv)])
        slot_python = str(venv / "bin" / "python")
        pip = [*self.pip, "--python", slot_python] if self.pip else [slot_python, "-m", "pip"]
        self._run(
            [
                *pip,
                "install",
                "--isolated",
                "--no-index",
                "--find-links",
                str(target / "wheels"),
                "--only-binary=:all:",
                "--no-cache-dir",
                "--disable-pip-version-check",
                "--no-input",
                f"{manifest.package}=={manifest.version}",
            ]
        )
        if not launcher.entry_point(self.root, slot).exists():
            raise InstallError(f"{manifest.package} {manifest.version} has no `lightbox` script")
        launcher.write_json_atomic(
            target / launcher.MARKER_FILE,
            {"version": manifest.version, "package": manifest.package, "at": time.time()},
        )

    def _run(self, cmd: list[str]) -> None:
        try:
            result = subprocess.run(
                cmd, capture_output=True, text=True, timeout=self.install_timeout, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as err:
            raise InstallError(f"{cmd[0]} could not run: {err}") from err
        if result.returncode != 0:
            tail = " | ".join((result.stderr or result.stdout).strip().splitlines()[-4:])
            raise InstallError(f"{' '.join(cmd[:3])} ... failed ({result.returncode}): {tail}")

    def wipe(self, slot: str) -> None:
        state = self.state()
        if slot in (state.active, state.pending, self.running_slot()):
            raise SlotError(f"slot {slot} is in use; it cannot be wiped")
        target = self.slot_dir(slot)
        if target.exists():
            # marker first: a wipe cut short leaves a slot that is clearly incomplete
            (target / launcher.MARKER_FILE).unlink(missing_ok=True)
            shutil.rmtree(target)

    def cleanup_incomplete(self) -> list[str]:
        """Wipe slots left half-installed (no marker) that nothing points at."""
        state, wiped = self.state(), []
        for slot in SLOTS:
            in_use = slot in (state.active, state.pending, self.running_slot())
            if not in_use and self.slot_dir(slot).exists() and not self.ready(slot):
                self.wipe(slot)
                wiped.append(slot)
        return wiped

    # switch / commit / abort
    def bootstrap(self, slot: str, wheels: Path, manifest: Manifest) -> None:
        """First install on a fresh device: install and commit ``slot`` directly."""
        self.ensure()
        self.install(slot, wheels, manifest)
        self.save(SlotState(active=slot, active_version=manifest.version))
        launcher.switch_current(self.root, slot)

    def begin_trial(self, slot: str, version: str) -> None:
        """The atomic switch: state.json names the trial slot, then ``current`` follows."""
        state = self.state()
        if state.pending is not None:
            raise SlotError(f"slot {state.pending} is already on trial")
        if slot == state.active or not self.ready(slot):
            raise SlotError(f"slot {slot} is not a completely installed inactive slot")
        self.save(
            dataclasses.replace(state, pending=slot, pending_version=version, boot_attempts=0)
        )
        launcher.switch_current(self.root, slot)

    def commit(self) -> SlotState:
        """The trial slot becomes the active one; the old active one is kept as previous."""
        state = self.state()
        if state.pending is None:
            raise SlotError("no slot on trial to commit")
        new = dataclasses.replace(
            state,
            active=state.pending,
            active_version=state.pending_version,
            previous=state.active,
            previous_version=state.active_version,
            pending=None,
            pending_version=None,
            boot_attempts=0,
        )
        self.save(new)
        launcher.switch_current(self.root, state.pending)
        return new

    def abort_trial(self, reason: str) -> SlotState:
        """Back to the committed slot (idempotent: the launcher may have done it already)."""
        state = self.state()
        new = launcher.fail_trial(state, reason, time.time())
        if new != state:
            self.save(new)
        if new.active is not None:
            launcher.switch_current(self.root, new.active)
        return new

    def mark_failure_reported(self) -> None:
        state = self.state()
        if not state.failure_reported:
            self.save(dataclasses.replace(state, failure_reported=True))


__all__ = ["SlotLayout"]
