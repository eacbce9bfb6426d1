"""``lightbox release``: keys, build, sign, verify and publish release artifacts."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from lightbox.release.errors import ReleaseError

if TYPE_CHECKING:
    from lightbox.release.keys import TrustStore

release_app = typer.Typer(
    help="Release artifacts: keys, build, sign, verify, publish.", no_args_is_help=True
)
console = Console()
err_console = Console(stderr=True)

KeyPath = Annotated[Path, typer.Option("--key", help="Ed25519 private key file (PEM or raw).")]


@contextmanager
def _progress(description: str, total: int) -> Iterator[Callable[[int], None]]:
    """A rich progress bar (on stderr) for a step over ``total`` bytes."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err_console, transient=True) as bar:
        task = bar.add_task(description, total=total)

        def advance(count: int) -> None:
            bar.advance(task, count)

        yield advance


def _fail(err: ReleaseError) -> typer.Exit:
    err_console.print(f"[red]error ({err.reason}):[/red] {err.message}")
    return typer.Exit(1)


def _trust(
    trust_dir: Path | None, public_keys: list[Path] | None, revoked: list[str] | None
) -> TrustStore:
    from lightbox.release.keys import TrustStore, load_public_key

    store = TrustStore.load(trust_dir) if trust_dir else TrustStore()
    for path in public_keys or []:
        store.add(load_public_key(path))
    for kid in revoked or []:
        store.revoke(kid)
    return store


@release_app.command()
def keygen(
    name: Annotated[str, typer.Option(help="File name stem: NAME.key and NAME.pub.")] = "release",
    out_dir: Annotated[Path, typer.Option("--out-dir", help="Where to write the keys.")] = Path(),
    fmt: Annotated[str, typer.Option("--format", help="pem or raw (base64).")] = "pem",
) -> None:
    """Generate an Ed25519 signing key (NAME.key, mode 0600) and its public key (NAME.pub)."""
    from lightbox.release.keys import generate_key, key_id, save_private_key, save_public_key

    if fmt not in ("pem", "raw"):
        err_console.print("[red]error:[/red] --format is pem or raw")
        raise typer.Exit(2)
    key = generate_key()
    try:
        save_private_key(key, out_dir / f"{name}.key", "raw" if fmt == "raw" else "pem")
        save_public_key(key.public_key(), out_dir / f"{name}.pub", "raw" if fmt == "raw" else "pem")
    except ReleaseError as err:
        raise _fail(err) from err
    console.print(f"key id {key_id(key)}")
    console.print(f"private key {out_dir / (name + '.key')} (keep it secret, keep it offline)")
    console.print(f"public key  {out_dir / (name + '.pub')} (install it in the devices' trust)")


@release_app.command()
def build(
    output: Annotated[Path, typer.Option("-o", "--output", help="Artifact file to write.")],
    hardware: Annotated[
        list[str], typer.Option("--hardware", help="Compatible hardware id (repeatable).")
    ],
    wheels: Annotated[
        Path | None, typer.Option("--wheels", help="Directory of ready wheels.")
    ] = None,
    project: Annotated[
        Path | None, typer.Option("--project", help="Build the wheels from this project.")
    ] = None,
    deps: Annotated[
        bool, typer.Option("--deps/--no-deps", help="With --project: download dependencies.")
    ] = True,
    platform: Annotated[
        str | None, typer.Option(help="Target platform tag, e.g. manylinux2014_aarch64.")
    ] = None,
    python_version: Annotated[
        str | None, typer.Option("--python-version", help="Target Python, e.g. 3.11.")
    ] = None,
    version: Annotated[str | None, typer.Option(help="Must match the wheel's version.")] = None,
    channel: Annotated[str, typer.Option(help="Release channel.")] = "stable",
    min_from: Annotated[
        str | None, typer.Option("--min-from", help="Oldest version that may update to it.")
    ] = None,
    key: Annotated[Path | None, typer.Option("--key", help="Sign with this key too.")] = None,
    package: Annotated[str, typer.Option(help="Distribution to install.")] = "lightbox",
) -> None:
    """Build an artifact: the package's wheel and its dependency wheels, with a manifest."""
    from lightbox.release.artifact import build as build_artifact
    from lightbox.release.artifact import collect_wheels
    from lightbox.release.keys import load_private_key

    if (wheels is None) == (project is None):
        err_console.print("[red]error:[/red] give exactly one of --wheels and --project")
        raise typer.Exit(2)
    try:
        signing_key = load_private_key(key) if key else None
        with tempfile.TemporaryDirectory(prefix="lightbox-wheels-") as tmp:
            if project is not None:
                with console.status("building wheels (pip wheel / pip download)..."):
                    files = collect_wheels(
                        project,
                        Path(tmp),
                        deps=deps,
                        platform=platform,
                        python_version=python_version,
                    )
            else:
                assert wheels is not None
                files = sorted(wheels.glob("*.whl"))
            total = sum(p.stat().st_size for p in files) * 2
            with _progress("hashing and writing wheels", total) as advance:
                manifest = build_artifact(
                    files,
                    output,
                    channel=channel,
                    hardware=hardware,
                    version=version,
                    min_from_version=min_from,
                    package=package,
                    signing_key=signing_key,
                    progress=advance,
                )
    except ReleaseError as err:
        raise _fail(err) from err
    signed = f"signed by {manifest.key_id}" if manifest.key_id else "UNSIGNED"
    console.print(
        f"wrote {output}: {package} {manifest.version} ({manifest.channel}, "
        f"{', '.join(manifest.hardware)}), {len(manifest.files)} wheels, {signed}"
    )


@release_app.command()
def sign(
    artifact: Annotated[Path, typer.Argument(help="Artifact to sign.")],
    key: KeyPath,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write here (default: in place).")
    ] = None,
) -> None:
    """Sign (or re-sign) an artifact; its files are re-hashed against the manifest first."""
    from lightbox.release.artifact import read_manifest
    from lightbox.release.artifact import sign as sign_artifact
    from lightbox.release.keys import load_private_key

    try:
        private = load_private_key(key)
        total = read_manifest(artifact).size
        with _progress("hashing and signing", total) as advance:
            manifest = sign_artifact(artifact, private, output, progress=advance)
    except ReleaseError as err:
        raise _fail(err) from err
    console.print(f"signed {output or artifact}: {manifest.version} with key {manifest.key_id}")


@release_app.command()
def verify(
    artifact: Annotated[Path, typer.Argument(help="Artifact to check.")],
    trust: Annotated[
        Path | None, typer.Option("--trust", help="Directory of trusted *.pub and 'revoked'.")
    ] = None,
    public_key: Annotated[
        list[str] | None, typer.Option("--public-key", help="A trusted public key (repeatable).")
    ] = None,
    revoked: Annotated[
        list[str] | None, typer.Option("--revoked", help="A revoked key id (repeatable).")
    ] = None,
    current_version: Annotated[
        str | None, typer.Option("--current-version", help="Refuse versions <= this.")
    ] = None,
    hardware: Annotated[str | None, typer.Option(help="Refuse other hardware.")] = None,
    allow_downgrade: Annotated[
        bool, typer.Option("--allow-downgrade", help="Accept older versions (rollback).")
    ] = False,
) -> None:
    """Verify an artifact as a device would: signature, trust, policy, every file's hash."""
    from lightbox.release.artifact import verify as verify_artifact

    try:
        store = _trust(trust, [Path(p) for p in public_key or []], revoked)
        total = artifact.stat().st_size
        with _progress("verifying", total) as advance:
            manifest = verify_artifact(
                artifact,
                store,
                current_version=current_version,
                hardware=hardware,
                allow_downgrade=allow_downgrade,
                progress=advance,
            )
    except ReleaseError as err:
        raise _fail(err) from err
    except OSError as err:
        err_console.print(f"[red]error:[/red] {err}")
        raise typer.Exit(1) from err
    table = Table(title=f"{artifact.name}: verified", show_header=False)
    for field in ("package", "version", "channel", "min_from_version", "key_id", "created_at"):
        table.add_row(field, str(getattr(manifest, field)))
    table.add_row("hardware", ", ".join(manifest.hardware))
    table.add_row("files", f"{len(manifest.files)} wheels, {manifest.size} bytes")
    console.print(table)


@release_app.command()
def publish(
    artifact: Annotated[Path, typer.Argument(help="A signed artifact.")],
    storage: Annotated[
        str, typer.Option("--storage", help="s3://bucket/prefix?endpoint=URL, or a directory.")
    ],
    key_name: Annotated[
        str | None, typer.Option("--object-key", help="Default: releases/<v>/lightbox-<v>.lbx")
    ] = None,
    trust: Annotated[
        Path | None, typer.Option("--trust", help="Verify against this trust directory first.")
    ] = None,
) -> None:
    """Upload a signed artifact to release storage; prints the object key and sha256."""
    from lightbox.release.artifact import read_manifest, sha256_file
    from lightbox.release.artifact import verify as verify_artifact
    from lightbox.release.keys import TrustStore
    from lightbox.release.storage import artifact_key, storage_from_url

    try:
        manifest = read_manifest(artifact)
        if manifest.key_id is None:
            err_console.print("[red]error (unsigned):[/red] sign the artifact before publishing")
            raise typer.Exit(1)
        size = artifact.stat().st_size
        if trust is not None:
            with _progress("verifying", size) as advance:
                verify_artifact(artifact, TrustStore.load(trust), progress=advance)
        with _progress("hashing", size) as advance:
            digest, _ = sha256_file(artifact, advance)
        target = storage_from_url(storage)
        key = key_name or artifact_key(manifest.version)
        with _progress("uploading", size) as advance:
            target.put(key, artifact, progress=advance)
    except ReleaseError as err:
        raise _fail(err) from err
    console.print(f"published {target.describe(key)}")
    console.print(f"key     {key}")
    console.print(f"sha256  {digest}")
    console.print(f"size    {size}")
    console.print(f"version {manifest.version} ({manifest.channel}), signed by {manifest.key_id}")


__all__ = ["release_app"]
