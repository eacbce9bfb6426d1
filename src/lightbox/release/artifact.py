"""Release artifacts: build, sign and verify.

An artifact (``*.lbx``) is one uncompressed ustar file (wheels are zip files already; a
second compression gains little and would hide byte offsets)::

    manifest.json        canonical manifest bytes (see lightbox.release.manifest)
    manifest.sig         64-byte Ed25519 signature over manifest.json (absent: unsigned)
    wheels/*.whl         the package's wheel and every dependency wheel for the target

It installs with no network: ``pip install --no-index --find-links wheels/ <package>==<v>``.
:func:`verify` checks everything — layout, signature, key trust, hardware, version policy,
each file's size and sha256 — in one streaming pass before the caller writes anywhere but
an optional staging directory, which it removes again when the artifact is refused.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError

from lightbox.release import _tar
from lightbox.release.errors import (
    ArtifactCorrupt,
    BadSignature,
    BuildError,
    DigestMismatch,
    Downgrade,
    UnsignedArtifact,
    UpdatePathRefused,
    VerificationError,
    WrongHardware,
)
from lightbox.release.keys import TrustStore, key_id
from lightbox.release.manifest import (
    MANIFEST_NAME,
    MAX_MANIFEST_BYTES,
    SIGNATURE_NAME,
    WHEELS_DIR,
    FileEntry,
    Manifest,
    parse_version,
)

Progress = Callable[[int], None]
ARTIFACT_SUFFIX = ".lbx"
_CHUNK = 1 << 20
_SIGNATURE_SIZE = 64


def _noop(_: int) -> None:
    return None


def sha256_file(path: Path, progress: Progress | None = None) -> tuple[str, int]:
    """(hex sha256, size) of a file, read in chunks."""
    tick = progress or _noop
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
            tick(len(chunk))
    return digest.hexdigest(), size


def normalize_name(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def wheel_version(path: Path, package: str) -> str | None:
    """The version of ``package`` if the wheel's file name says it is that package."""
    parts = path.name.removesuffix(".whl").split("-")
    if len(parts) >= 5 and normalize_name(parts[0]) == normalize_name(package):
        return parts[1]
    return None


# --------------------------------------------------------------------------- build / sign


def _write_member(out: BinaryIO, name: str, data: bytes, mtime: int) -> None:
    out.write(_tar.header(name, len(data), mtime))
    out.write(data)
    out.write(_tar.padding(len(data)))


def _signature(manifest: Manifest, key: Ed25519PrivateKey) -> bytes:
    return key.sign(manifest.canonical_bytes())


def _atomic_out(out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    return out.with_name(f".{out.name}.tmp")


def _finish(tmp: Path, out: Path) -> None:
    with tmp.open("rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, out)


def build(
    wheels: Iterable[Path],
    out: Path,
    *,
    channel: str,
    hardware: Sequence[str],
    version: str | None = None,
    min_from_version: str | None = None,
    package: str = "lightbox",
    signing_key: Ed25519PrivateKey | None = None,
    created_at: datetime | None = None,
    progress: Progress | None = None,
) -> Manifest:
    """Write an artifact holding ``wheels``; signed when ``signing_key`` is given.

    ``version`` defaults to the version in the package wheel's file name and must match it.
    ``progress`` receives byte counts while the wheels are hashed and copied.
    """
    paths = sorted({p.name: p for p in wheels}.values(), key=lambda p: p.name)
    if not paths:
        raise BuildError("no wheels to put in the artifact")
    found = [v for p in paths if (v := wheel_version(p, package)) is not None]
    if len(found) != 1:
        raise BuildError(f"need exactly one {package} wheel among the wheels, found {len(found)}")
    if version is not None and parse_version(version) != parse_version(found[0]):
        raise BuildError(f"--version {version} differs from the {package} wheel ({found[0]})")
    files: dict[str, FileEntry] = {}
    for path in paths:
        if path.suffix != ".whl":
            raise BuildError(f"{path} is not a wheel")
        digest, size = sha256_file(path, progress)
        files[f"{WHEELS_DIR}/{path.name}"] = FileEntry(sha256=digest, size=size)
    try:
        manifest = Manifest(
            package=package,
            version=version or found[0],
            channel=channel,
            hardware=list(hardware),
            size=sum(f.size for f in files.values()),
            files=files,
            min_from_version=min_from_version,
            created_at=created_at or datetime.now(UTC).replace(microsecond=0),
            key_id=key_id(signing_key) if signing_key is not None else None,
        )
    except ValidationError as err:
        raise BuildError(f"invalid release options: {err}") from err
    mtime = int(manifest.created_at.timestamp())
    tmp = _atomic_out(out)
    try:
        with tmp.open("wb") as fh:
            _write_member(fh, MANIFEST_NAME, manifest.canonical_bytes(), mtime)
            if signing_key is not None:
                _write_member(fh, SIGNATURE_NAME, _signature(manifest, signing_key), mtime)
            for path in paths:
                name = f"{WHEELS_DIR}/{path.name}"
                fh.write(_tar.header(name, files[name].size, mtime))
                with path.open("rb") as src:
                    shutil.copyfileobj(src, fh, _CHUNK)
                fh.write(_tar.padding(files[name].size))
            fh.write(_tar.TRAILER)
        _finish(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return manifest


def read_manifest(path: Path) -> Manifest:
    """The manifest of an artifact, NOT verified: for display and for :func:`sign`."""
    with path.open("rb") as fh:
        reader = _tar.TarReader(fh)
        member = reader.next()
        if member is None or member.name != MANIFEST_NAME or member.size > MAX_MANIFEST_BYTES:
            raise ArtifactCorrupt(f"{path}: the first member must be {MANIFEST_NAME}")
        try:
            return Manifest.from_bytes(reader.read_all(member))
        except ValidationError as err:
            raise ArtifactCorrupt(f"{path}: invalid manifest: {err}") from err


def sign(
    artifact: Path,
    key: Ed25519PrivateKey,
    out: Path | None = None,
    *,
    progress: Progress | None = None,
) -> Manifest:
    """(Re-)sign an artifact with ``key``; the files are re-hashed against the manifest."""
    out = out or artifact
    manifest = read_manifest(artifact).model_copy(update={"key_id": key_id(key)})
    manifest = Manifest.model_validate(manifest.model_dump())
    mtime = int(manifest.created_at.timestamp())
    tmp = _atomic_out(out)
    try:
        with artifact.open("rb") as src, tmp.open("wb") as fh:
            reader = _tar.TarReader(src)
            _write_member(fh, MANIFEST_NAME, manifest.canonical_bytes(), mtime)
            _write_member(fh, SIGNATURE_NAME, _signature(manifest, key), mtime)
            seen: set[str] = set()
            while (member := reader.next()) is not None:
                if member.name in (MANIFEST_NAME, SIGNATURE_NAME):
                    reader.read_all(member)
                    continue
                entry = _entry(manifest, member, seen)
                fh.write(_tar.header(member.name, member.size, mtime))
                _hash_member(reader, member, entry, fh, progress)
                fh.write(_tar.padding(member.size))
            _check_complete(manifest, seen)
            fh.write(_tar.TRAILER)
        _finish(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return manifest


# --------------------------------------------------------------------------- verify


def _entry(manifest: Manifest, member: _tar.Member, seen: set[str]) -> FileEntry:
    entry = manifest.files.get(member.name)
    if entry is None:
        raise ArtifactCorrupt(f"{member.name} is in the artifact but not in the manifest")
    if member.name in seen:
        raise ArtifactCorrupt(f"{member.name} appears twice")
    seen.add(member.name)
    if member.size != entry.size:
        raise DigestMismatch(
            f"{member.name} is {member.size} bytes, the manifest says {entry.size}"
        )
    return entry


def _hash_member(
    reader: _tar.TarReader,
    member: _tar.Member,
    entry: FileEntry,
    sink: BinaryIO | None,
    progress: Progress | None,
) -> None:
    tick = progress or _noop
    digest = hashlib.sha256()
    for chunk in reader.data(member):
        digest.update(chunk)
        if sink is not None:
            sink.write(chunk)
        tick(len(chunk))
    if digest.hexdigest() != entry.sha256:
        raise DigestMismatch(f"{member.name}: sha256 differs from the manifest (altered file)")


def _check_complete(manifest: Manifest, seen: set[str]) -> None:
    missing = sorted(set(manifest.files) - seen)
    if missing:
        raise ArtifactCorrupt(f"files listed in the manifest are missing: {', '.join(missing)}")


def _signed_key_id(raw: bytes) -> str | None:
    """key_id from manifest bytes that are not trusted yet (a bad parse is an alteration)."""
    try:
        return Manifest.from_bytes(raw).key_id
    except ValidationError as err:
        raise BadSignature(f"{MANIFEST_NAME} is not a valid manifest (altered?): {err}") from err


def check_policy(
    manifest: Manifest,
    *,
    current_version: str | None,
    hardware: str | None,
    allow_downgrade: bool = False,
) -> None:
    """Refuse a release this device must not install (signature already checked)."""
    if hardware is not None and hardware not in manifest.hardware:
        raise WrongHardware(
            f"release {manifest.version} is built for {', '.join(manifest.hardware)}, "
            f"not {hardware}"
        )
    if current_version is None:
        return
    new, current = manifest.parsed_version, parse_version(current_version)
    if allow_downgrade:
        return
    if new <= current:
        raise Downgrade(
            f"release {manifest.version} is not newer than the running {current_version}"
        )
    if manifest.min_from_version is not None and current < parse_version(manifest.min_from_version):
        raise UpdatePathRefused(
            f"release {manifest.version} needs {manifest.min_from_version} or newer first; "
            f"this device runs {current_version}"
        )


def verify(
    path: Path,
    trust: TrustStore,
    *,
    current_version: str | None = None,
    hardware: str | None = None,
    allow_downgrade: bool = False,
    extract_to: Path | None = None,
    progress: Progress | None = None,
) -> Manifest:
    """Check an artifact completely and return its manifest, or raise VerificationError.

    Order: layout and signature first, then key trust and revocation, then hardware and
    version policy, then every file's size and sha256 while streaming. With ``extract_to``
    the wheels are written there (a staging directory, never a slot) during the same pass;
    it is removed again if the artifact is refused.
    """
    created: list[Path] = []
    try:
        with path.open("rb") as fh:
            return _verify_stream(
                fh,
                trust,
                current_version=current_version,
                hardware=hardware,
                allow_downgrade=allow_downgrade,
                extract_to=extract_to,
                created=created,
                progress=progress,
            )
    except VerificationError:
        for file in created:
            file.unlink(missing_ok=True)
        raise
    except OSError as err:
        raise ArtifactCorrupt(f"cannot read {path}: {err.strerror}") from err


def _verify_stream(
    fh: BinaryIO,
    trust: TrustStore,
    *,
    current_version: str | None,
    hardware: str | None,
    allow_downgrade: bool,
    extract_to: Path | None,
    created: list[Path],
    progress: Progress | None,
) -> Manifest:
    reader = _tar.TarReader(fh)
    first = reader.next()
    if first is None or first.name != MANIFEST_NAME:
        raise ArtifactCorrupt(f"the first member must be {MANIFEST_NAME}")
    if first.size > MAX_MANIFEST_BYTES:
        raise ArtifactCorrupt(f"{MANIFEST_NAME} is larger than {MAX_MANIFEST_BYTES} bytes")
    raw = reader.read_all(first)
    second = reader.next()
    if second is None or second.name != SIGNATURE_NAME:
        raise UnsignedArtifact("the artifact has no manifest.sig; sign it with a trusted key")
    if second.size != _SIGNATURE_SIZE:
        raise BadSignature(f"{SIGNATURE_NAME} is {second.size} bytes, not 64")
    signature = reader.read_all(second)
    kid = _signed_key_id(raw)
    if kid is None:
        raise UnsignedArtifact("the manifest names no signing key")
    trust.verify(kid, signature, raw)
    manifest = Manifest.from_bytes(raw)
    check_policy(
        manifest,
        current_version=current_version,
        hardware=hardware,
        allow_downgrade=allow_downgrade,
    )
    if extract_to is not None:
        extract_to.mkdir(parents=True, exist_ok=True)
    seen: set[str] = set()
    while (member := reader.next()) is not None:
        entry = _entry(manifest, member, seen)
        if extract_to is None:
            _hash_member(reader, member, entry, None, progress)
            continue
        target = extract_to / Path(member.name).name
        created.append(target)
        with target.open("wb") as sink:
            _hash_member(reader, member, entry, sink, progress)
    _check_complete(manifest, seen)
    return manifest


# --------------------------------------------------------------------------- wheels


def collect_wheels(
    project: Path,
    dest: Path,
    *,
    deps: bool = True,
    platform: str | None = None,
    python_version: str | None = None,
    pip: Sequence[str] = (sys.executable, "-m", "pip"),
) -> list[Path]:
    """Build the project's wheel and (with ``deps``) download every dependency wheel.

    ``platform``/``python_version`` target another machine (e.g. ``manylinux2014_aarch64``
    and ``3.11`` for a Raspberry Pi 4): only binary wheels are taken then.
    """
    dest.mkdir(parents=True, exist_ok=True)
    before = {p.name for p in dest.glob("*.whl")}
    _run([*pip, "wheel", "--no-deps", "--wheel-dir", str(dest), str(project)])
    if deps:
        built = [p for p in dest.glob("*.whl") if p.name not in before]
        download = [*pip, "download", "--dest", str(dest), "--only-binary=:all:"]
        if platform:
            download += ["--platform", platform]
        if python_version:
            download += ["--python-version", python_version]
        _run([*download, *map(str, built)])
    return sorted(dest.glob("*.whl"))


def _run(cmd: list[str]) -> None:
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-5:]
        raise BuildError(f"{' '.join(cmd[:4])} ... failed: " + " | ".join(tail))


__all__ = [
    "ARTIFACT_SUFFIX",
    "build",
    "check_policy",
    "collect_wheels",
    "normalize_name",
    "read_manifest",
    "sha256_file",
    "sign",
    "verify",
    "wheel_version",
]
