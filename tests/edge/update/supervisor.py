"""A stand-in for systemd in the tests: ``Restart=always`` around the launcher.

Run as ``python supervisor.py <command...>``. SIGHUP restarts the service (like
``systemctl restart lightbox``: the child is stopped, then started again); SIGTERM stops.
Each start is logged to stderr, so tests can count them.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time

child: subprocess.Popen[bytes] | None = None
stopping = False


def _restart(*_: object) -> None:
    if child is not None and child.poll() is None:
        child.terminate()


def _stop(*_: object) -> None:
    global stopping
    stopping = True
    _restart()


def main() -> None:
    global child
    signal.signal(signal.SIGHUP, _restart)
    signal.signal(signal.SIGTERM, _stop)
    while not stopping:
        child = subprocess.Popen(sys.argv[1:])
        code = child.wait()
        print(f"supervisor: service exited with {code}", file=sys.stderr, flush=True)
        if not stopping:
            time.sleep(0.1)  # RestartSec


if __name__ == "__main__":
    main()
