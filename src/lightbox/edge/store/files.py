"""Crash-safe file helpers for data kept next to the database (media files)."""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

__all__ = ["atomic_write", "fsync_dir", "remove_quietly"]

_LOG = logging.getLogger(__name__)


def fsync_dir(directory: Path) -> None:
    """Make the entries of ``directory`` (new, renamed or removed files) durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that, after a crash, it holds either all or nothing.

    Writes a temporary file in the same directory, fsyncs it, renames it over ``path`` and
    fsyncs the directory. The directory must exist. The file is created with mode 0600
    (readable by the LightBox service only).
    """
    directory = path.parent
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        remove_quietly(tmp)
        raise
    fsync_dir(directory)


def remove_quietly(path: Path) -> bool:
    """Remove ``path`` if it exists; True if a file was removed.

    A missing file is not an error; any other failure is logged as a warning, not raised.
    """
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    except OSError as err:
        _LOG.warning("could not remove %s: %s", path, err)
        return False
    return True
