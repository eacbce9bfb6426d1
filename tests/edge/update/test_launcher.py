"""The launcher's decision (pure) for every branch, and its fallbacks on disk."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lightbox.edge.update import launcher
from lightbox.edge.update.launcher import SlotState, choose, decide, fail_trial

COMMITTED = SlotState(active="a", active_version="1.0.0")
TRIAL = dataclasses.replace(COMMITTED, pending="b", pending_version="2.0.0")


def test_no_trial_starts_the_committed_slot() -> None:
    assert decide(COMMITTED) == ("a", COMMITTED)


def test_a_trial_is_started_and_its_counter_counted_first() -> None:
    slot, state = decide(TRIAL)
    assert slot == "b"
    assert state.boot_attempts == 1
    slot, state = decide(dataclasses.replace(TRIAL, boot_attempts=2))
    assert (slot, state.boot_attempts) == ("b", 3)


def test_a_trial_out_of_attempts_falls_back_and_records_the_failure() -> None:
    slot, state = decide(dataclasses.replace(TRIAL, boot_attempts=3))
    assert slot == "a"
    assert (state.pending, state.pending_version, state.boot_attempts) == (None, None, 0)
    assert state.last_failure is not None
    assert state.last_failure["version"] == "2.0.0"
    assert not state.failure_reported
    assert decide(dataclasses.replace(TRIAL, boot_attempts=5), max_attempts=5)[0] == "a"


def test_nothing_installed_has_no_slot() -> None:
    assert decide(SlotState()) == (None, SlotState())


def test_fail_trial_without_a_trial_changes_nothing() -> None:
    assert fail_trial(COMMITTED, "x") is COMMITTED


def _install_fake(root: Path, slot: str, *, marker: bool = True) -> None:
    exe = launcher.entry_point(root, slot)
    exe.parent.mkdir(parents=True)
    exe.write_text(f'#!/bin/sh\necho slot {slot} "$@" $LIGHTBOX_SLOT\n')
    exe.chmod(0o755)
    if marker:
        (launcher.slot_dir(root, slot) / launcher.MARKER_FILE).write_text("{}")


def test_a_half_installed_trial_slot_is_not_started(tmp_path: Path) -> None:
    _install_fake(tmp_path, "a")
    _install_fake(tmp_path, "b", marker=False)
    launcher.write_state(tmp_path, TRIAL)
    slot, state = choose(tmp_path)
    assert slot == "a"
    assert state.last_failure is not None
    assert "not completely installed" in state.last_failure["reason"]


def test_killed_between_the_state_write_and_the_symlink(tmp_path: Path) -> None:
    """state.json is the authority: the launcher follows it and fixes `current`."""
    _install_fake(tmp_path, "a")
    _install_fake(tmp_path, "b")
    launcher.switch_current(tmp_path, "a")
    launcher.write_state(tmp_path, TRIAL)  # the switch was cut here
    out = _run_launcher(tmp_path)
    assert out.startswith("slot b edge run --http-port 1 b")
    assert launcher.current_slot(tmp_path) == "b"
    assert launcher.read_state(tmp_path).boot_attempts == 1


def _run_launcher(root: Path) -> str:
    result = subprocess.run(
        [sys.executable, launcher.__file__, "--root", str(root), "--", "--http-port", "1"],
        capture_output=True,
        text=True,
        check=True,
        env={k: v for k, v in os.environ.items() if k != "LIGHTBOX_SLOT"},
    )
    return result.stdout


def test_the_launcher_is_standalone_and_counts_each_start(tmp_path: Path) -> None:
    _install_fake(tmp_path, "a")
    _install_fake(tmp_path, "b")
    launcher.write_state(tmp_path, TRIAL)
    outs = [_run_launcher(tmp_path).split()[1] for _ in range(4)]
    assert outs == ["b", "b", "b", "a"]
    state = launcher.read_state(tmp_path)
    assert state.pending is None
    assert state.last_failure is not None
    # it imports nothing but the standard library
    source = Path(launcher.__file__).read_text()
    assert "import lightbox" not in source
    assert "from lightbox" not in source


def test_nothing_to_start_exits_with_ex_config(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, launcher.__file__, "--root", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == launcher.EX_CONFIG
    assert "no installed slot" in result.stderr


def test_state_json_with_an_unknown_slot_is_refused(tmp_path: Path) -> None:
    (tmp_path / "state.json").write_text('{"active": "c"}')
    with pytest.raises(ValueError, match="unknown slot"):
        launcher.read_state(tmp_path)
