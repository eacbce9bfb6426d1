"""Child processes that must not outlive the service that started them.

The embedded MQTT broker of a LightBox (and of a cloud in dev mode) is a ``mosquitto``
child process. When the service dies without stopping it (``kill -9``, a crash, the OOM
killer), an orphaned broker would keep its port, its persistence files and its clients.
On Linux :func:`die_with_parent`, run in the child between fork and exec, asks the
kernel to send it SIGTERM when the parent dies (``PR_SET_PDEATHSIG``); mosquitto then
saves its state and exits like on a normal stop. Elsewhere it does nothing.

The signal comes when the *thread* that started the child ends: start such children
from the event loop's thread (asyncio's and uvloop's subprocess functions do), not from
a short-lived worker thread.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys

__all__ = ["die_with_parent"]

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """``preexec_fn``: SIGTERM this process when its parent dies (Linux; else no-op)."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        return  # best effort: the child still runs, as it would without this
    if os.getppid() == 1:  # the parent died before the prctl: no signal would come
        os.kill(os.getpid(), signal.SIGTERM)
