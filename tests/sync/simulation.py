"""A randomized model of two replicas (device and cloud) syncing over a bad channel.

Each replica has its own wall clock (skewed, jumping back and forth; the device may boot in
1970 until NTP sets it), a persisted copy of its document and marks (what survives a
restart: the outbox model) and the live copy. The channel between them loses, duplicates,
reorders and partitions messages, which travel as encoded bytes. Every local edit is
recorded in an oracle log with its timestamp; at the end everything is delivered and the
two documents must be equal, hold no tombstone, and hold for every key the value of the
latest edit (by HLC) of that key: no acknowledged edit is lost unless superseded.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from lightbox.sync import (
    TOMBSTONE,
    Change,
    Document,
    Hlc,
    PeerMarks,
    Timestamp,
    Tombstone,
    acknowledge,
    collect_garbage,
    decode_ack,
    decode_delta,
    encode_ack,
    encode_delta,
    outgoing,
    receive,
    rewind,
)
from lightbox.sync.document import JsonValue

FIELDS = [
    "state.brightness",
    "state.power",
    "state.scene",
    "settings.name",
    "settings.output.gamma",
]
ENTRIES = ["presets/a", "presets/b", "presets/c", "playlists/p", "schedules/s"]
MINUTE = 60_000
REAL_START = 1_700_000_000_000


@dataclass
class Edit:
    key: str
    value: JsonValue | Tombstone
    ts: Timestamp


@dataclass
class Channel:
    rng: random.Random
    loss: float
    dup: float
    partitioned: bool = False
    inflight: list[tuple[str, bytes]] = field(default_factory=list)

    def send(self, kind: str, payload: bytes) -> None:
        if self.partitioned or self.rng.random() < self.loss:
            return
        self.inflight.append((kind, payload))
        if self.rng.random() < self.dup:
            self.inflight.append((kind, payload))

    def take(self) -> tuple[str, bytes] | None:
        if not self.inflight or self.partitioned:
            return None
        index = self.rng.randrange(len(self.inflight))
        message = self.inflight[index]
        if self.rng.random() >= self.dup:
            del self.inflight[index]
        return message


class Replica:
    def __init__(self, origin: str, peer: str, sim: Simulation, *, no_rtc: bool) -> None:
        self.origin, self.peer, self.sim = origin, peer, sim
        self.skew = 0 if origin == "cloud" else sim.rng.randint(-20 * MINUTE, 20 * MINUTE)
        self.no_rtc = no_rtc  # wall clock starts at 0 until "NTP" sets it
        self.saved: tuple[Document, PeerMarks] = (Document(), PeerMarks())
        self.doc, self.marks = self.saved
        self.clock = self._clock()

    def now_ms(self) -> int:
        if self.no_rtc:
            return max(0, self.sim.real - REAL_START + self.skew)
        return max(0, self.sim.real + self.skew)

    def _clock(self) -> Hlc:
        drift = 3_600_000 if self.origin == "cloud" else None
        return Hlc(self.origin, self.now_ms, last=self.doc.top, max_drift_ms=drift)

    def persist(self) -> None:
        self.saved = (self.doc, self.marks)

    def restart(self) -> None:
        self.doc, self.marks = self.saved[0], rewind(self.saved[1])
        self.clock = self._clock()
        self.sim.restarts += 1

    def edit(self) -> None:
        rng = self.sim.rng
        ts = self.clock.tick()
        keys = rng.sample(FIELDS + ENTRIES, rng.choice([1, 1, 1, 2, 3]))
        batch = []
        for key in keys:
            self.sim.serial += 1
            value: JsonValue | Tombstone
            if key in ENTRIES and rng.random() < 0.35:
                value = TOMBSTONE
            else:
                value = {"by": self.origin, "n": self.sim.serial}
            batch.append(Change(key, value))
            self.sim.oracle.append(Edit(key, value, ts))
        self.doc = self.doc.record(batch, ts)
        self.persist()  # the service commits the edit before it answers: acknowledged

    def flush(self, channel: Channel) -> None:
        limit = self.sim.rng.choice([None, None, 1, 3])
        delta, marks = outgoing(
            self.doc, self.marks, origin=self.origin, peer=self.peer, limit=limit
        )
        if delta.is_empty and delta.upto == self.marks.sent:
            return
        self.marks = marks
        channel.send("delta", encode_delta(delta))

    def deliver(self, kind: str, payload: bytes, back: Channel, *, may_crash: bool) -> None:
        if kind == "ack":
            self.marks = acknowledge(self.marks, decode_ack(payload))
            self.doc, _ = collect_garbage(self.doc, self.marks)
            self.persist()
            return
        got = receive(self.doc, self.marks, decode_delta(payload), clock=self.clock)
        self.doc, self.marks = got.document, got.marks
        if may_crash and self.sim.rng.random() < 0.05:
            self.restart()  # crashed after merging, before persisting: nothing was acked
            return
        self.doc, _ = collect_garbage(self.doc, self.marks)
        self.persist()
        back.send("ack", encode_ack(got.ack))


class Simulation:
    def __init__(self, seed: int, steps: int) -> None:
        self.rng = random.Random(seed)
        self.steps = steps
        self.real = REAL_START + self.rng.randint(0, 10**9)
        self.serial = 0
        self.restarts = 0
        self.oracle: list[Edit] = []
        self.device = Replica("device", "cloud", self, no_rtc=self.rng.random() < 0.3)
        self.cloud = Replica("cloud", "device", self, no_rtc=False)
        loss, dup = self.rng.choice([(0.0, 0.0), (0.2, 0.1), (0.5, 0.3)])
        self.up = Channel(self.rng, loss, dup)  # device -> cloud
        self.down = Channel(self.rng, loss, dup)  # cloud -> device

    def channel_from(self, replica: Replica) -> Channel:
        return self.up if replica is self.device else self.down

    def step(self) -> None:
        rng = self.rng
        replica = rng.choice([self.device, self.cloud])
        other = self.cloud if replica is self.device else self.device
        action = rng.random()
        if action < 0.25:
            replica.edit()
        elif action < 0.45:
            replica.flush(self.channel_from(replica))
        elif action < 0.75:
            message = self.channel_from(other).take()
            if message is not None:
                replica.deliver(*message, self.channel_from(replica), may_crash=True)
        elif action < 0.80:
            replica.marks = rewind(replica.marks)  # ack overdue: resend from the acked mark
        elif action < 0.83:
            replica.restart()
        elif action < 0.87:
            partitioned = not self.up.partitioned
            self.up.partitioned = self.down.partitioned = partitioned
        elif action < 0.90:
            self.device.skew = rng.randint(-20 * MINUTE, 20 * MINUTE)  # clock jumps
            if rng.random() < 0.3:
                self.device.no_rtc = False  # NTP set the clock
        self.real += rng.randint(0, 5_000)

    def settle(self) -> None:
        """Heal the partition and deliver everything, reliably, until nothing moves."""
        self.up.partitioned = self.down.partitioned = False
        self.up.loss = self.down.loss = self.up.dup = self.down.dup = 0.0
        for replica in (self.device, self.cloud):
            replica.marks = rewind(replica.marks)
        for _ in range(50):
            for replica in (self.device, self.cloud):
                replica.flush(self.channel_from(replica))
            if not self.up.inflight and not self.down.inflight:
                return
            while self.up.inflight or self.down.inflight:
                for channel, target in ((self.up, self.cloud), (self.down, self.device)):
                    if channel.inflight:
                        kind, payload = channel.inflight.pop(0)
                        target.deliver(kind, payload, self.channel_from(target), may_crash=False)
        raise AssertionError("the replicas did not settle in 50 rounds")

    def run(self) -> None:
        for _ in range(self.steps):
            self.step()
        self.settle()
        self.check()

    def check(self) -> None:
        device, cloud = self.device.doc, self.cloud.doc
        assert device.values() == cloud.values(), "replicas diverged"
        assert device.registers == cloud.registers, "replicas hold different registers"
        assert not device.tombstones(), "tombstones were not collected"
        latest: dict[str, Edit] = {}
        for edit in self.oracle:
            if edit.key not in latest or edit.ts > latest[edit.key].ts:
                latest[edit.key] = edit
        values = device.values()
        for key, edit in latest.items():
            if edit.value is TOMBSTONE:
                assert key not in values, f"{key}: deleted at {edit.ts} but shows {values[key]}"
            else:
                reg = device.get(key)
                assert reg is not None, f"{key}: edit at {edit.ts} lost"
                assert (reg.value, reg.ts) == (edit.value, edit.ts), f"{key}: edit lost"
        assert set(values) == {k for k, e in latest.items() if e.value is not TOMBSTONE}


def run_many(schedules: int, steps: int, seed: int = 0) -> tuple[int, int]:
    """Run ``schedules`` random schedules; return (schedules, edits) checked."""
    edits = 0
    for i in range(schedules):
        sim = Simulation(seed * 1_000_003 + i, steps)
        try:
            sim.run()
        except AssertionError as err:
            raise AssertionError(f"schedule {seed}/{i}: {err}") from err
        edits += len(sim.oracle)
    return schedules, edits
