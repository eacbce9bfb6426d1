"""The update agent in its own process, for the kill tests.

``python agent_proc.py ROOT OFFER_JSON TRUST_PUB SUPERVISOR_PID PORT KILL_AT``: runs one
update; when it reports the state KILL_AT it SIGKILLs itself (after the report is durable).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from lightbox.edge.update.agent import UpdateAgent, UpdateOffer
from lightbox.edge.update.download import RetryPolicy
from lightbox.edge.update.health import HttpHealthCheck
from lightbox.edge.update.outbox import Outbox, UpdateStatus
from lightbox.edge.update.slots import SlotLayout
from lightbox.release.keys import TrustStore, load_public_key


def main() -> None:
    root, offer_json, pub, supervisor, port, kill_at = sys.argv[1:7]
    outbox = Outbox(Path(root) / "outbox.jsonl")
    offer = UpdateOffer.model_validate_json(offer_json)

    def report(status: UpdateStatus) -> None:
        outbox.report(status)
        if status.state == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    async def check() -> UpdateOffer:
        return offer

    async def restart() -> None:
        os.kill(int(supervisor), signal.SIGHUP)

    agent = UpdateAgent(
        SlotLayout(Path(root), pip=[sys.executable, "-m", "pip"]),
        trust=TrustStore([load_public_key(Path(pub))]),
        hardware="linux-x86_64",
        check=check,
        restart=restart,
        health=HttpHealthCheck(f"http://127.0.0.1:{port}", timeout=6, interval=0.1),
        report=report,
        retry=RetryPolicy(attempts=4, base=0.01, cap=0.1),
    )
    print(asyncio.run(agent.run_once()))


if __name__ == "__main__":
    main()
