"""A strict reader and writer of the one tar layout release artifacts use.

Artifacts are plain POSIX ustar archives (any tar tool lists and extracts them), written
with regular files only and ending with exactly two zero blocks. The reader accepts that
layout and nothing else, so every byte of an artifact is covered by a check: a header by its
checksum, file data by the manifest's sha256 (or the signature), padding and the trailer by
being zero, and the length by the trailer ending the file. Memory stays bounded: data is
read in chunks.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from lightbox.release.errors import ArtifactCorrupt, ArtifactTruncated

BLOCK = 512
CHUNK = 1 << 20
_ZERO = bytes(BLOCK)
_MAX_SIZE = 8**11 - 1


def _octal(value: int, width: int) -> bytes:
    return b"%0*o\0" % (width - 1, value)


def header(name: str, size: int, mtime: int) -> bytes:
    """A ustar header of a regular file (mode 0644, owner 0)."""
    prefix = ""
    if len(name.encode()) > 100:
        prefix, _, name = name.rpartition("/")
    raw_name, raw_prefix = name.encode(), prefix.encode()
    if len(raw_name) > 100 or len(raw_prefix) > 155 or not raw_name:
        raise ValueError(f"member name {name!r} does not fit a ustar header")
    if not 0 <= size <= _MAX_SIZE:
        raise ValueError(f"member {name!r} is too large for ustar ({size} bytes)")
    block = bytearray(BLOCK)
    block[0 : len(raw_name)] = raw_name
    block[100:108] = _octal(0o644, 8)
    block[108:116] = _octal(0, 8)
    block[116:124] = _octal(0, 8)
    block[124:136] = _octal(size, 12)
    block[136:148] = _octal(max(mtime, 0), 12)
    block[148:156] = b" " * 8
    block[156:157] = b"0"
    block[257:263] = b"ustar\0"
    block[263:265] = b"00"
    block[345 : 345 + len(raw_prefix)] = raw_prefix
    block[148:156] = b"%06o\0 " % sum(block)
    return bytes(block)


def padding(size: int) -> bytes:
    return bytes(-size % BLOCK)


TRAILER = _ZERO * 2


@dataclass(frozen=True, slots=True)
class Member:
    name: str
    size: int
    offset: int


class TarReader:
    """Walks the members of a strict ustar stream; call :meth:`data` for each member."""

    def __init__(self, fh: BinaryIO) -> None:
        self._fh = fh
        self._pos = 0
        self._pending = 0  # bytes of the current member's data (with padding) not read yet
        self._pending_data = 0

    def _read_exact(self, size: int, what: str) -> bytes:
        data = self._fh.read(size)
        if len(data) != size:
            raise ArtifactTruncated(
                f"the artifact ends early (in {what} at offset {self._pos + len(data)}); "
                "download it again"
            )
        self._pos += size
        return data

    def next(self) -> Member | None:
        """The next member, or None at the trailer (which must end the file)."""
        if self._pending:
            raise RuntimeError("read the previous member's data first")
        offset = self._pos
        block = self._read_exact(BLOCK, "a header")
        if block == _ZERO:
            self._read_trailer()
            return None
        if block[257:265] != b"ustar\x0000" or block[156:157] != b"0":
            raise ArtifactCorrupt(f"offset {offset}: not a regular-file ustar header")
        computed = sum(block[:148]) + 8 * 0x20 + sum(block[156:])
        # exactly the form the writer uses: a lenient parse would let flips through
        if block[148:156] != b"%06o\0 " % computed:
            raise ArtifactCorrupt(f"offset {offset}: header checksum mismatch (altered header)")
        try:
            size = int(block[124:135].decode("ascii"), 8)
        except (UnicodeDecodeError, ValueError) as err:
            raise ArtifactCorrupt(f"offset {offset}: unreadable size field") from err
        name = self._field(block[0:100], offset)
        prefix = self._field(block[345:500], offset)
        full = f"{prefix}/{name}" if prefix else name
        self._pending = size + (-size % BLOCK)
        self._pending_data = size
        return Member(name=full, size=size, offset=offset)

    @staticmethod
    def _field(raw: bytes, offset: int) -> str:
        text, _, rest = raw.partition(b"\0")
        if rest.strip(b"\0"):
            raise ArtifactCorrupt(f"offset {offset}: bytes after a name's end")
        try:
            return text.decode("ascii")
        except UnicodeDecodeError as err:
            raise ArtifactCorrupt(f"offset {offset}: a member name is not ASCII") from err

    def data(self, member: Member) -> Iterator[bytes]:
        """The member's data in chunks; then checks that its padding is zero."""
        remaining = self._pending_data
        while remaining:
            chunk = self._read_exact(min(CHUNK, remaining), member.name)
            remaining -= len(chunk)
            yield chunk
        pad = self._pending - self._pending_data
        self._pending = self._pending_data = 0
        if pad and self._read_exact(pad, f"{member.name} padding").strip(b"\0"):
            raise ArtifactCorrupt(f"stray bytes in the padding after {member.name}")

    def read_all(self, member: Member) -> bytes:
        return b"".join(self.data(member))

    def _read_trailer(self) -> None:
        if self._read_exact(BLOCK, "the trailer") != _ZERO:
            raise ArtifactCorrupt(f"offset {self._pos - BLOCK}: the trailer is not zero")
        if self._fh.read(1):
            raise ArtifactCorrupt(f"stray bytes after the trailer at offset {self._pos}")
