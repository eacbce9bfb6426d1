"""The store survives ``kill -9`` at any moment: every acknowledged transaction is kept.

A child process opens the store and commits a stream of transactions (preset ``p<i>``, the
state with version ``i``, the result of command ``c<i>``), printing ``ack <i>`` after each
``transaction()`` returns. The parent kills it with SIGKILL after a random delay, re-opens the
store and checks it. Set ``LIGHTBOX_CRASH_SEED`` to replay a run.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lightbox.edge.store import Store

CHILD = r"""
import sys
from pathlib import Path

from lightbox.edge.store import Store
from lightbox.protocol.library import Preset
from lightbox.protocol.scenes import SolidScene, TextScene
from lightbox.protocol.state import CommandResult, State

path, i = Path(sys.argv[1]), int(sys.argv[2])
store = Store.open(path)
print("ready", flush=True)
while True:
    with store.transaction() as tx:
        scene = TextScene(text=f"message {i} " * 20) if i % 3 else SolidScene()
        tx.put_preset(Preset(id=f"p{i}", name=f"Preset {i}", scene=scene))
        tx.save_state(State(version=i, preset=f"p{i}"))
        tx.put_result(f"c{i}", CommandResult(id=f"c{i}", ok=True, version=i))
        if i % 7 == 0 and i > 0:
            tx.delete_preset(f"p{i - 1}")  # deletes too; p(i-1) is then absent for good
    print(f"ack {i}", flush=True)
    i += 1
"""


def quick_check(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return [str(row[0]) for row in conn.execute("PRAGMA quick_check")]
    finally:
        conn.close()


def run_rounds(tmp_path: Path, rounds: int) -> None:
    seed = int(os.environ.get("LIGHTBOX_CRASH_SEED", random.randrange(2**32)))
    print(f"crash test seed: {seed} (LIGHTBOX_CRASH_SEED={seed} to replay)")
    rng = random.Random(seed)
    path = tmp_path / "data" / "lightbox.db"
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    acked: set[int] = set()
    next_i = 0
    kills_during_writes = 0
    for round_no in range(rounds):
        where = f"seed {seed}, round {round_no}"
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(path), str(next_i)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        try:
            assert child.stdout is not None
            if rng.random() < 0.2:
                time.sleep(rng.uniform(0.0, 0.4))  # may land while opening or migrating
            else:
                assert child.stdout.readline() == "ready\n", where
                time.sleep(rng.uniform(0.0, 0.25))
                kills_during_writes += 1
            child.send_signal(signal.SIGKILL)
            out, err = child.communicate(timeout=10)
        finally:
            if child.poll() is None:
                child.kill()
                child.communicate()
        assert child.returncode == -signal.SIGKILL, f"{where}: child ended early: {err}"
        round_acks = [int(line.split()[1]) for line in out.splitlines() if line.startswith("ack ")]
        acked.update(round_acks)

        with Store.open(path) as store:  # must not raise
            assert quick_check(path) == ["ok"], where
            state = store.load_state()
            present = {int(p.id[1:]) for p in store.list_presets()}
            if acked:
                assert state is not None, where
                assert state.version >= max(acked), where
            newest = -1 if state is None else state.version
            # committed transaction i (acknowledged or not) deleted p(i-1) when i % 7 == 0
            deleted = {i - 1 for i in range(7, newest + 1, 7)}
            assert not present & deleted, f"{where}: deleted presets are back"
            missing = sorted(acked - deleted - present)
            assert not missing, f"{where}: acknowledged presets lost: {missing[:10]}"
            for i in round_acks[-3:]:
                assert store.get_result(f"c{i}") is not None, where
            if state is not None:
                # atomic: the newest preset and the state come from the same transaction
                assert state.preset == f"p{state.version}", where
                assert state.version in present, where
                assert max(present) == state.version, where
                next_i = state.version + 1
    assert kills_during_writes > 0
    assert len(acked) > rounds, f"seed {seed}: too few transactions to mean anything"


def test_store_survives_kill_9_quick(tmp_path: Path) -> None:
    run_rounds(tmp_path, rounds=4)


@pytest.mark.slow
def test_store_survives_kill_9_many_times(tmp_path: Path) -> None:
    run_rounds(tmp_path, rounds=24)
